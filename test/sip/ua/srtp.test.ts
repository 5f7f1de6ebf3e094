/**
 * SDES through the stack: the SRTP policy the application gives per INVITE (`srtpPolicy`) decides
 * whether an RTP/SAVP or plain offer is answered or refused with 488 and a Warning 303 saying why
 * (reported to `onRefused` as `'srtp'`, not counted as malformed), and a re-INVITE with a new key
 * reports new keys in `mediaUpdated` while one repeating the same key keeps ours.
 */
import * as sdpTransform from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import type { InviteSummary, MediaDescription, RefusalReason } from '../../../sip/index.js';
import type { SrtpPolicy } from '../../../sip/sdp/crypto.js';
import { callerRequest, memoryStack, SIPP_OFFER } from '../support/memoryStack.js';

const LOCAL = { address: '127.0.0.1', port: 20000 };
const SUITES = [{ name: 'AES_CM_128_HMAC_SHA1_80', keyLength: 16, saltLength: 14 }];
/** RFC 4568 §5.1's key (without its MKI) and §8's. */
const KEY_A = 'PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR';
const KEY_B = 'NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj';

function savp(key: string): string {
  return SIPP_OFFER.replace(/RTP\/AVP/, 'RTP/SAVP').replace(
    /(m=audio[^\r]*\r\n)/,
    `$1a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${key}\r\n`,
  );
}

function stackWith(policy: SrtpPolicy, answer: boolean) {
  const refused: [number, RefusalReason][] = [];
  const asked: InviteSummary[] = [];
  const ms = memoryStack(
    (call) => (answer ? void call.answer(LOCAL) : undefined),
    { srtpSuites: SUITES },
    {
      onRefused: (_c, status, reason) => refused.push([status, reason]),
      srtpPolicy: (call) => {
        asked.push(call);
        return policy;
      },
    },
  );
  return { ms, refused, asked };
}

describe('SRTP policy of an INVITE', () => {
  it.each<[string, SrtpPolicy, string, RegExp]>([
    ['a plain offer under required', 'required', SIPP_OFFER, /SRTP required: RTP\/AVP offer refused/],
    ['an RTP/SAVP offer under off', 'off', savp(KEY_A), /SRTP is off for this call: RTP\/SAVP refused/],
  ])('%s → 488 with Warning 303 saying why, reported as srtp', (_, policy, offer, why) => {
    const { ms, refused } = stackWith(policy, true);
    ms.send(callerRequest({ body: offer }));
    const res = ms.responses().find((r) => r.status >= 200);
    expect(res?.status).toBe(488);
    expect(res?.get('warning')).toMatch(/^303 127\.0\.0\.1 "/);
    expect(res?.get('warning')).toMatch(why);
    expect(refused).toEqual([[488, 'srtp']]);
    expect(ms.calls).toEqual([]);
    expect(ms.stack.counters.malformedRejected).toBe(0);
  });

  it('an INVITE without an offer under required: our offer in the 200 is RTP/SAVP, the ACK answers it', async () => {
    const { ms, refused } = stackWith('required', false);
    ms.send(callerRequest({}));
    const remote = ms.calls[0]!.answer(LOCAL);
    const ok = ms.responses().find((r) => r.status === 200);
    const ours = sdpTransform.parse(ok?.bodyText ?? '').media[0];
    expect(ours?.protocol).toBe('RTP/SAVP');
    const line = ours?.crypto?.[0];
    expect(line).toMatchObject({ id: 1, suite: 'AES_CM_128_HMAC_SHA1_80' });
    const answer = savp(KEY_B).replace(/a=crypto:1 /, `a=crypto:${line?.id} `);
    ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: ok?.toTag, body: answer }));
    expect((await remote).srtp).toEqual({
      suite: 'AES_CM_128_HMAC_SHA1_80',
      remoteKey: Buffer.from(KEY_B, 'base64'),
      localKey: Buffer.from(line?.config.replace('inline:', '') ?? '', 'base64'),
    });
    expect(refused).toEqual([]);
  });

  it('asks the policy once with the listener index (undefined for an in-memory flow) and answers RTP/SAVP', () => {
    const { ms, asked } = stackWith('optional', true);
    ms.send(callerRequest({ body: savp(KEY_A) }));
    const ok = ms.responses().find((r) => r.status === 200);
    expect(asked.map((c) => [c.transport, c.listener])).toEqual([['udp', undefined]]);
    const m = sdpTransform.parse(ok?.bodyText ?? '').media[0];
    expect(m?.protocol).toBe('RTP/SAVP');
    expect(m?.crypto?.[0]).toMatchObject({ id: 1, suite: 'AES_CM_128_HMAC_SHA1_80' });
    expect(ms.calls[0]?.remoteMedia?.srtp?.remoteKey).toEqual(Buffer.from(KEY_A, 'base64'));
  });
});

describe('re-INVITE with SDES', () => {
  it('same key: same keys reported; new key: both keys new (our a=crypto in the 200 matches)', () => {
    const { ms } = stackWith('optional', true);
    ms.send(callerRequest({ body: savp(KEY_A) }));
    const ok = ms.responses().find((r) => r.status === 200);
    ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: ok?.toTag }));
    const first = ms.calls[0]?.remoteMedia?.srtp;
    const updates: MediaDescription[] = [];
    ms.calls[0]?.on('mediaUpdated', (d) => updates.push(d));
    const ours: string[] = [];
    for (const [cseq, key] of [
      [2, KEY_A],
      [3, KEY_B],
    ] as const) {
      ms.send(callerRequest({ cseq, toTag: ok?.toTag, branch: `z9hG4bK-re${cseq}`, body: savp(key) }));
      const res = ms.responses().find((r) => r.status === 200);
      ours.push(sdpTransform.parse(res?.bodyText ?? '').media[0]?.crypto?.[0]?.config ?? '');
      ms.send(callerRequest({ method: 'ACK', cseq, branch: `z9hG4bK-ack${cseq}`, toTag: ok?.toTag }));
    }
    expect(updates.map((u) => u.srtp?.remoteKey)).toEqual([
      Buffer.from(KEY_A, 'base64'),
      Buffer.from(KEY_B, 'base64'),
    ]);
    expect(updates[0]?.srtp?.localKey).toEqual(first?.localKey);
    expect(updates[1]?.srtp?.localKey).not.toEqual(first?.localKey);
    expect(ours).toEqual(
      updates.map((u) => `inline:${Buffer.from(u.srtp?.localKey ?? []).toString('base64')}`),
    );
  });

  it('a re-INVITE taking an SRTP call back to plain RTP is refused (488, Warning 303); the media stay', () => {
    const { ms } = stackWith('optional', true);
    ms.send(callerRequest({ body: savp(KEY_A) }));
    const ok = ms.responses().find((r) => r.status === 200);
    ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: ok?.toTag }));
    const updates: MediaDescription[] = [];
    ms.calls[0]?.on('mediaUpdated', (d) => updates.push(d));
    ms.send(callerRequest({ cseq: 2, toTag: ok?.toTag, branch: 'z9hG4bK-plain', body: SIPP_OFFER }));
    const res = ms.responses().find((r) => r.status >= 200);
    expect(res?.status).toBe(488);
    expect(res?.get('warning')).toMatch(/^303 127\.0\.0\.1 "SRTP required: RTP\/AVP offer refused"$/);
    expect(updates).toEqual([]);
    expect(ms.calls[0]?.remoteMedia?.srtp?.remoteKey).toEqual(Buffer.from(KEY_A, 'base64'));
  });
});
