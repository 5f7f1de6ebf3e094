/**
 * Offers with wrong values, through the stack (issue #10): the INVITE is answered 488 with a
 * `Warning: 399` naming the field (400 Bad SDP when the body is not SDP), counted and reported,
 * never 500 and never 200; a re-INVITE or UPDATE with such an offer gets the same answer and
 * changes nothing.
 */
import { describe, expect, it } from 'vitest';
import type { IncomingCall, MediaDescription, RefusalReason } from '../../../sip/index.js';
import { recordingLogger } from '../support/memory.js';
import { callerRequest, memoryStack, SIPP_OFFER } from '../support/memoryStack.js';

const LOCAL = { address: '127.0.0.1', port: 20000 };

describe('INVITE with an offer of wrong values', () => {
  it.each([
    ['a=rtpmap:0 1', SIPP_OFFER.replace(/a=rtpmap:0 [^\r]*/, 'a=rtpmap:0 1'), /a=rtpmap:0/],
    ['m=audio 99999', SIPP_OFFER.replace(/m=audio \d+/, 'm=audio 99999'), /m=audio port/],
    ['m=audio 06100', SIPP_OFFER.replace(/m=audio \d+/, 'm=audio 06100'), /m=audio port/],
    ['c=IN IP4 5', SIPP_OFFER.replace(/c=IN IP4 [^\r]*/, 'c=IN IP4 5'), /c= address/],
    ['a=ptime:0', `${SIPP_OFFER}a=ptime:0\r\n`, /a=ptime/],
    ['a=ptime:1.2.3', `${SIPP_OFFER}a=ptime:1.2.3\r\n`, /a=ptime/],
  ])('%s → 488 with Warning 399 naming the field; counted, reported, not offered', (_w, offer, field) => {
    const refused: [number, RefusalReason][] = [];
    const invited: IncomingCall[] = [];
    const ms = memoryStack(
      (call) => invited.push(call),
      {},
      { onRefused: (_c, status, reason) => refused.push([status, reason]) },
    );
    ms.send(callerRequest({ body: offer }));
    const [trying, res] = ms.responses();
    expect([trying?.status, res?.status]).toEqual([100, 488]);
    const warning = res?.get('warning') ?? '';
    expect(warning).toMatch(/^399 127\.0\.0\.1 "[^"\\]*"$/);
    expect(warning).toMatch(field);
    expect(refused).toEqual([[488, 'bad-sdp']]);
    expect(invited).toEqual([]);
    expect(ms.stack.counters.malformedRejected).toBe(1);
  });

  it('500 such INVITEs are logged once, then with their count (not once each)', async () => {
    const logger = recordingLogger();
    const ms = memoryStack(() => undefined, { logger });
    const offer = SIPP_OFFER.replace(/m=audio \d+/, 'm=audio 99999');
    for (let i = 0; i < 500; i++) {
      ms.send(callerRequest({ body: offer, callId: `flood-${i}`, branch: `z9hG4bK-f${i}` }));
    }
    expect(ms.stack.counters.malformedRejected).toBe(500);
    const refusals = () => logger.lines.filter((l) => l.msg === 'INVITE with unusable SDP refused');
    expect(refusals()).toHaveLength(1);
    await ms.stack.stop();
    expect(refusals().map((l) => (l.obj as { repeated?: number }).repeated)).toEqual([undefined, 499]);
  });

  it('a body that is not SDP → 400 Bad SDP with a Warning 399', () => {
    const ms = memoryStack();
    ms.send(callerRequest({ body: 'hello, world\r\n' }));
    const res = ms.responses()[1];
    expect([res?.status, res?.reason]).toEqual([400, 'Bad SDP']);
    expect(res?.get('warning')).toMatch(/^399 \S+ "SDP line 1 is not <type>=<value>"$/);
  });
});

describe('re-INVITE / UPDATE with an offer of wrong values', () => {
  it('→ 488 with Warning 399 naming the field; the media stay as they were', () => {
    const ms = memoryStack((call) => void call.answer(LOCAL));
    ms.send(callerRequest({ body: SIPP_OFFER }));
    const ok = ms.responses().find((r) => r.status === 200);
    ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack', toTag: ok?.toTag }));
    const updates: MediaDescription[] = [];
    ms.calls[0]?.on('mediaUpdated', (d) => updates.push(d));
    for (const [cseq, method] of [
      [2, 'INVITE'],
      [3, 'UPDATE'],
    ] as const) {
      ms.send(
        callerRequest({
          method,
          cseq,
          toTag: ok?.toTag,
          body: SIPP_OFFER.replace(/m=audio \d+/, 'm=audio 70000'),
        }),
      );
      const res = ms.responses().find((r) => r.status >= 200);
      expect(res?.status).toBe(488);
      expect(res?.get('warning')).toMatch(/^399 127\.0\.0\.1 "m=audio port '70000' is not 0-65535"$/);
      if (method === 'INVITE') {
        ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-ack2', cseq, toTag: ok?.toTag }));
      }
    }
    expect(updates).toEqual([]);
    expect(ms.calls[0]?.state).toBe('confirmed');
  });
});
