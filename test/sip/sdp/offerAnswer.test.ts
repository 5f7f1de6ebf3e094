/**
 * SDP offer/answer (RFC 3264) on fixture offers (a SIPp offer, an IPv6 offer with video and two
 * audio streams, an offer without G.711). The answer is checked by parsing it again with
 * sdp-transform, a second implementation.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as sdpTransform from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import { answerOffer, createOffer, describeOffer, readAnswer } from '../../../sip/sdp/offerAnswer.js';
import { FIXTURES } from '../../helpers/paths.js';

const sdp = (name: string): string => readFileSync(join(FIXTURES, 'sdp', name), 'utf8');
const ids = { sessionId: '42', version: 1 };
const local = { address: '127.0.0.1', port: 20000 };

describe('answerOffer', () => {
  it('picks PCMU by our preference even when PCMA is offered first, keeps telephone-event', () => {
    const { sdp: answer, remote } = answerOffer(sdp('sipp-pcma-first.sdp'), ['PCMU', 'PCMA'], local, ids);
    expect(remote).toEqual({
      address: '127.0.0.1',
      port: 6100,
      rtcpPort: 6101,
      rtcpMux: false,
      codec: 'PCMU',
      payloadType: 0,
      telephoneEventPayloadType: 101,
      ptime: 20,
      direction: 'sendrecv',
    });
    const parsed = sdpTransform.parse(answer);
    expect(parsed.media[0]).toMatchObject({
      port: 20000,
      payloads: '0 101',
      ptime: 20,
      direction: 'sendrecv',
    });
    expect(parsed.connection?.ip).toBe('127.0.0.1');
    expect(answer).toContain('a=fmtp:101 0-16\r\n');
  });

  it('answers PCMA when we prefer it', () => {
    const { remote } = answerOffer(sdp('sipp-pcma-first.sdp'), ['PCMA', 'PCMU'], local, ids);
    expect([remote.codec, remote.payloadType]).toEqual(['PCMA', 8]);
  });

  it('rejects video and the second audio stream with port 0; IPv6, ptime, rtcp, sendonly', () => {
    const { sdp: answer, remote } = answerOffer(
      sdp('video-audio-ipv6.sdp'),
      ['PCMU', 'PCMA'],
      { address: '::1', port: 20002 },
      ids,
    );
    expect(remote).toEqual({
      address: '::1',
      port: 49170,
      rtcpPort: 49300,
      rtcpMux: false,
      codec: 'PCMA',
      payloadType: 8,
      telephoneEventPayloadType: 96,
      ptime: 30,
      direction: 'sendonly',
    });
    const parsed = sdpTransform.parse(answer);
    expect(parsed.media.map((m) => [m.type, m.port])).toEqual([
      ['video', 0],
      ['audio', 20002],
      ['audio', 0],
    ]);
    expect(parsed.media[1]).toMatchObject({ direction: 'recvonly', ptime: 30, payloads: '8 96' });
    expect(parsed.connection).toEqual({ version: 6, ip: '::1' });
  });

  it('throws SDP_ERR_NO_CODEC when no G.711 is offered', () => {
    expect(() => answerOffer(sdp('nocodec.sdp'), ['PCMU', 'PCMA'], local, ids)).toThrow(
      expect.objectContaining({ code: 'SDP_ERR_NO_CODEC' }),
    );
  });

  it('throws SDP_ERR_PARSE / NO_AUDIO on garbage', () => {
    expect(() => answerOffer('hello', ['PCMU'], local, ids)).toThrow(
      expect.objectContaining({ code: expect.stringMatching(/^SDP_ERR_/) as unknown }),
    );
  });

  it('accepts rtcp-mux when offered', () => {
    const offer = sdp('sipp-pcma-first.sdp').replace('a=sendrecv', 'a=rtcp-mux\r\na=sendrecv');
    const { sdp: answer, remote } = answerOffer(offer, ['PCMU'], local, ids);
    expect([remote.rtcpMux, remote.rtcpPort]).toEqual([true, 6100]);
    expect(answer).toContain('a=rtcp-mux');
  });
});

describe('createOffer / readAnswer (late offer, UAC)', () => {
  it('offers every preferred codec plus telephone-event and reads an answer', () => {
    const offer = createOffer(['PCMU', 'PCMA'], local, ids);
    expect(sdpTransform.parse(offer).media[0]).toMatchObject({ payloads: '0 8 101', port: 20000 });
    expect(describeOffer(offer, ['PCMA'])?.codec).toBe('PCMA');
    const { sdp: answer } = answerOffer(offer, ['PCMA', 'PCMU'], { address: '127.0.0.2', port: 30000 }, ids);
    expect(readAnswer(answer, ['PCMU', 'PCMA'])).toMatchObject({
      address: '127.0.0.2',
      port: 30000,
      codec: 'PCMA',
      payloadType: 8,
      telephoneEventPayloadType: 101,
    });
  });
});
