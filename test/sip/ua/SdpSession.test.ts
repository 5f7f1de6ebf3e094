/**
 * Our SDP session across offers and answers (RFC 3264 §5, §8): one o= session id, the version one
 * higher for every new SDP, the current SDP repeated unchanged for a re-INVITE without an offer
 * (RFC 3261 §14.2), and an offer without our codecs refused. SDP is read back with sdp-transform
 * (a second implementation); offers are the project's SDP fixtures.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as sdpTransform from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import { createResponse } from '../../../sip/message/build.js';
import { SipRequest } from '../../../sip/message/SipMessage.js';
import { readSessionBody } from '../../../sip/ua/recording.js';
import { SdpSession } from '../../../sip/ua/SdpSession.js';
import { FIXTURES } from '../../helpers/paths.js';

const fixture = (name: string): string => readFileSync(join(FIXTURES, 'sdp', name), 'utf8');
const local = { address: '127.0.0.1', port: 20000 };
const sdpOf = (req: SipRequest): string | undefined => readSessionBody(req, false).sdp;

function origin(sdp: string | undefined): { sessionId: string; version: number } {
  const o = sdpTransform.parse(sdp ?? '').origin;
  return { sessionId: String(o?.sessionId), version: Number(o?.sessionVersion) };
}

function inDialog(method: 'INVITE' | 'UPDATE', body?: string): SipRequest {
  const req = new SipRequest(method, 'sip:sipscribe@127.0.0.1:5060', [
    { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-sdp-1' },
    { name: 'From', value: '<sip:alice@127.0.0.1>;tag=a' },
    { name: 'To', value: '<sip:sipscribe@127.0.0.1>;tag=b' },
    { name: 'Call-ID', value: 'sdp-session-test' },
    { name: 'CSeq', value: `2 ${method}` },
  ]);
  if (body !== undefined) {
    req.body = Buffer.from(body, 'utf8');
    req.add('Content-Type', 'application/sdp');
  }
  return req;
}

describe('SdpSession', () => {
  it('keeps the session id and increments the version by one for every new SDP (RFC 3264 §8)', () => {
    const session = new SdpSession(['PCMU', 'PCMA']);
    const first = origin(session.offer(local));
    expect(first.version).toBe(1);
    const second = origin(session.answer(fixture('sipp-pcma-first.sdp'), local).sdp);
    expect(second).toEqual({ sessionId: first.sessionId, version: 2 });
    expect(session.media).toEqual(local);
  });

  it('answers an offer in a re-INVITE/UPDATE from the current media and reports the remote media', () => {
    const session = new SdpSession(['PCMU', 'PCMA']);
    session.offer(local);
    const req = inDialog('UPDATE', fixture('sipp-pcma-first.sdp'));
    const ok = createResponse(req, 200);
    const result = session.reoffer(req, ok, sdpOf(req));
    expect(result).toMatchObject({
      refused: false,
      remote: { address: '127.0.0.1', port: 6100, codec: 'PCMU' },
    });
    const answer = sdpTransform.parse(ok.bodyText);
    expect(answer.media[0]?.port).toBe(20000);
    expect(origin(ok.bodyText).version).toBe(2);
    expect(ok.get('content-type')).toBe('application/sdp');
  });

  it('puts the current SDP unchanged into the 200 to a re-INVITE without an offer (RFC 3261 §14.2)', () => {
    const session = new SdpSession(['PCMU', 'PCMA']);
    const current = session.offer(local);
    const invite = inDialog('INVITE');
    const ok = createResponse(invite, 200);
    expect(session.reoffer(invite, ok, sdpOf(invite))).toEqual({ refused: false, remote: undefined });
    expect(ok.bodyText).toBe(current);
    // An UPDATE without an offer is a plain refresh: no SDP in its 200 (RFC 3311 §5.2).
    const update = inDialog('UPDATE');
    const okUpdate = createResponse(update, 200);
    session.reoffer(update, okUpdate, sdpOf(update));
    expect(okUpdate.body.length).toBe(0);
  });

  it('refuses an offer with none of our codecs and keeps the SDP it had', () => {
    const session = new SdpSession(['PCMU', 'PCMA']);
    const current = session.offer(local);
    const req = inDialog('INVITE', fixture('nocodec.sdp'));
    const ok = createResponse(req, 200);
    expect(session.reoffer(req, ok, sdpOf(req))).toEqual({
      refused: true,
      error: expect.objectContaining({ code: 'SDP_ERR_NO_CODEC' }) as unknown,
    });
    expect(ok.body.length).toBe(0);
    expect(session.sdp).toBe(current);
  });

  it('SDES: keeps our key while the peer keeps its own, a fresh one when it rekeys (re-INVITE)', () => {
    const suites = [{ name: 'AES_CM_128_HMAC_SHA1_80', keyLength: 16, saltLength: 14 }];
    const session = new SdpSession(['PCMU'], { policy: 'optional', suites });
    const keyA = 'PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR';
    const keyB = 'NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj';
    const savp = (key: string): string =>
      fixture('sipp-pcma-first.sdp')
        .replace('RTP/AVP', 'RTP/SAVP')
        .replace('a=ptime:20', `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${key}\r\na=ptime:20`);
    const first = session.answer(savp(keyA), local).remote.srtp;
    expect(first?.remoteKey).toEqual(Buffer.from(keyA, 'base64'));
    expect(first?.localKey).toHaveLength(30);
    const reinvite = (key: string): Uint8Array | undefined => {
      const req = inDialog('INVITE', savp(key));
      const ok = createResponse(req, 200);
      const r = session.reoffer(req, ok, sdpOf(req));
      const ours = sdpTransform.parse(ok.bodyText).media[0]?.crypto?.[0]?.config;
      expect(ours).toBe(
        `inline:${Buffer.from(r.refused ? [] : (r.remote?.srtp?.localKey ?? [])).toString('base64')}`,
      );
      return r.refused ? undefined : r.remote?.srtp?.localKey;
    };
    expect(reinvite(keyA)).toEqual(first?.localKey);
    const rekeyed = reinvite(keyB);
    expect(rekeyed).toHaveLength(30);
    expect(rekeyed).not.toEqual(first?.localKey);
  });
});
