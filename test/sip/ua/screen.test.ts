/**
 * The stack's screening hook in memory with a fake clock: which requests are screened (new
 * out-of-dialog ones, before any transaction or response), what `'drop'` and a status do on the
 * wire (nothing at all / one final answer whose retransmissions the transaction absorbs), and the
 * `onRefused` report of the stack's own 488.
 */
import { describe, expect, it } from 'vitest';
import {
  IncomingCall,
  type InviteSummary,
  type RefusalReason,
  type ScreenSource,
  type ScreenVerdict,
} from '../../../sip/index.js';
import type { SipRequest } from '../../../sip/message/SipMessage.js';
import { CALLER, callerRequest, memoryStack, SIPP_OFFER } from '../support/memoryStack.js';

interface Asked {
  method: string;
  source: ScreenSource;
}

function screened(
  verdict: (req: SipRequest) => ScreenVerdict,
  onInvite: (call: IncomingCall) => void = () => {},
) {
  const asked: Asked[] = [];
  const ms = memoryStack(
    onInvite,
    {},
    {
      screen: (req, source) => {
        asked.push({ method: req.method, source });
        return verdict(req);
      },
    },
  );
  return { ms, asked };
}

describe('SipStack screen', () => {
  it("'drop': no 100 Trying, no transaction, no call; the retransmission is screened again", () => {
    let verdict: ScreenVerdict = 'drop';
    const { ms, asked } = screened(() => verdict);
    ms.send(callerRequest({ body: SIPP_OFFER }));
    expect(ms.udp.sent).toHaveLength(0);
    expect(ms.calls).toHaveLength(0);
    expect(ms.stack.transactions.size.servers).toBe(0);
    expect(ms.stack.counters.screenedOut).toBe(1);
    ms.clock.advance(64 * 500); // nothing pending either: no Timer G/H, no 480 guard
    expect(ms.udp.sent).toHaveLength(0);
    // The caller's Timer A retransmission (same branch) arrives once the limit lets it through.
    verdict = 'accept';
    ms.send(callerRequest({ body: SIPP_OFFER }));
    expect(asked.map((a) => a.method)).toEqual(['INVITE', 'INVITE']);
    expect(ms.responses().map((r) => r.status)).toEqual([100]);
    expect(ms.calls).toHaveLength(1);
    expect(ms.stack.counters.screenedOut).toBe(1);
  });

  it('a status: one final answer with a To tag, no call; retransmissions are absorbed, the ACK ends it', () => {
    const { ms, asked } = screened(() => ({ status: 403, reason: 'Not Allowed Here' }));
    ms.send(callerRequest({ body: SIPP_OFFER }));
    const [res, ...more] = ms.responses();
    expect(more).toEqual([]);
    expect([res?.status, res?.reason]).toEqual([403, 'Not Allowed Here']);
    expect(res?.toTag).toMatch(/.+/);
    expect(res?.get('server')).toBe('sipscribe');
    expect(ms.calls).toHaveLength(0);
    // A retransmitted INVITE gets the same 403 again from the transaction, without a new screen.
    ms.send(callerRequest({ body: SIPP_OFFER }));
    expect(ms.responses().map((r) => [r.status, r.toTag])).toEqual([[403, res?.toTag]]);
    expect(ms.stack.counters.retransmissionsAbsorbed).toBe(1);
    // The ACK for the 403 (same branch, To tag of the 403) is the transaction's (RFC 3261 §17.2.1).
    ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-INVITE-1', toTag: res?.toTag ?? '' }));
    ms.clock.advance(5000); // Timer I (T4) ends the confirmed transaction: no 403 retransmission
    expect(ms.udp.sent).toHaveLength(0);
    expect(ms.stack.transactions.size.servers).toBe(0);
    expect(asked.map((a) => a.method)).toEqual(['INVITE']);
  });

  it('out-of-dialog OPTIONS goes through the screen with its source: dropped, or answered the status', () => {
    let verdict: ScreenVerdict = 'drop';
    const { ms, asked } = screened(() => verdict);
    ms.send(callerRequest({ method: 'OPTIONS', branch: 'z9hG4bK-o1' }));
    expect(ms.udp.sent).toHaveLength(0);
    expect(asked).toEqual([{ method: 'OPTIONS', source: { ...CALLER, transport: 'udp' } }]);
    verdict = { status: 403 };
    ms.send(callerRequest({ method: 'OPTIONS', branch: 'z9hG4bK-o2' }));
    expect(ms.responses().map((r) => [r.status, r.reason])).toEqual([[403, 'Forbidden']]);
    verdict = 'accept';
    ms.send(callerRequest({ method: 'OPTIONS', branch: 'z9hG4bK-o3' }));
    expect(ms.responses().map((r) => r.status)).toEqual([200]);
  });

  it('a status with retryAfter: the answer carries Retry-After in seconds (RFC 3261 §20.33)', () => {
    const { ms } = screened(() => ({ status: 503, retryAfter: 30 }));
    ms.send(callerRequest({ method: 'OPTIONS', branch: 'z9hG4bK-o1' }));
    const [res] = ms.responses();
    expect([res?.status, res?.reason, res?.get('retry-after')]).toEqual([503, 'Service Unavailable', '30']);
  });

  it('in-dialog requests, ACKs and a CANCEL of an admitted INVITE are not screened; a CANCEL of nothing is', () => {
    const { ms, asked } = screened(
      (req) => (req.method === 'INVITE' ? 'accept' : 'drop'),
      (call) => call.ring(),
    );
    ms.send(callerRequest({ body: SIPP_OFFER }));
    expect(ms.responses().map((r) => r.status)).toEqual([100, 180]);
    ms.send(callerRequest({ method: 'CANCEL', branch: 'z9hG4bK-INVITE-1' }));
    expect(
      ms
        .responses()
        .map((r) => r.status)
        .sort(),
    ).toEqual([200, 487]);
    ms.send(callerRequest({ method: 'ACK', branch: 'z9hG4bK-INVITE-1', toTag: ms.calls[0]?.localTag ?? '' }));
    ms.send(callerRequest({ method: 'BYE', branch: 'z9hG4bK-bye', cseq: 2, toTag: 'no-such-dialog' }));
    expect(ms.responses().map((r) => r.status)).toEqual([481]);
    ms.send(callerRequest({ method: 'CANCEL', branch: 'z9hG4bK-unknown', callId: 'other@127.0.0.1' }));
    expect(ms.udp.sent).toHaveLength(0); // would have been 481: screened out instead
    expect(asked.map((a) => a.method)).toEqual(['INVITE', 'CANCEL']);
  });

  it('a screen that throws does not stop the request (logged, accepted)', () => {
    const { ms } = screened(() => {
      throw new Error('policy bug');
    });
    ms.send(callerRequest({ method: 'OPTIONS' }));
    expect(ms.responses().map((r) => r.status)).toEqual([200]);
  });
});

describe('SipStack onRefused', () => {
  it("the stack's own 488 (no PCMU/PCMA offered) is reported with the ended call; onInvite is not called", () => {
    const refused: { call: InviteSummary; status: number; reason: RefusalReason }[] = [];
    const invited: IncomingCall[] = [];
    const ms = memoryStack(
      (call) => invited.push(call),
      {},
      { onRefused: (call, status, reason) => refused.push({ call, status, reason }) },
    );
    // G.729 only (static payload type 18, RFC 3551).
    const g729 = SIPP_OFFER.replace('RTP/AVP 0 8 101', 'RTP/AVP 18').replace(/a=rtpmap:[^\r]*\r\n/g, '');
    ms.send(callerRequest({ body: g729 }));
    expect(ms.responses().map((r) => r.status)).toEqual([100, 488]);
    expect(invited).toEqual([]);
    expect(refused).toHaveLength(1);
    const [r] = refused;
    // For a 488 the stack had made the call: it is reported ended.
    expect(r?.call).toBeInstanceOf(IncomingCall);
    const call = r?.call as IncomingCall;
    expect([r?.status, r?.reason, call.state, call.endReason]).toEqual([
      488,
      'no-codec',
      'ended',
      'rejected',
    ]);
    expect([r?.call.callId, r?.call.from, r?.call.source]).toEqual([
      'call-a@127.0.0.1',
      'sip:sipp@127.0.0.1:5070',
      CALLER,
    ]);
  });

  it('an INVITE whose SDP does not parse gets 400 Bad SDP with a Warning, counted and reported', () => {
    const refused: { status: number; reason: RefusalReason }[] = [];
    const invited: IncomingCall[] = [];
    const ms = memoryStack(
      (call) => invited.push(call),
      {},
      { onRefused: (_call, status, reason) => refused.push({ status, reason }) },
    );
    // RFC 4566 §5: an SDP description without its m= line carries no media (here: only v= and o=).
    ms.send(callerRequest({ body: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n' }));
    const responses = ms.responses();
    expect(responses.map((r) => [r.status, r.reason])).toEqual([
      [100, 'Trying'],
      [400, 'Bad SDP'],
    ]);
    expect(responses[1]?.get('warning')).toMatch(/^399 \S+ "SDP has no m= line"$/);
    expect(refused).toEqual([{ status: 400, reason: 'bad-sdp' }]);
    expect(invited).toEqual([]);
    expect(ms.stack.counters.malformedRejected).toBe(1);
  });

  it('an INVITE refused by a request check (420 Bad Extension) is reported; a 422 is not', () => {
    const refused: { call: InviteSummary; status: number; reason: RefusalReason }[] = [];
    const ms = memoryStack(
      () => undefined,
      {},
      { onRefused: (call, status, reason) => refused.push({ call, status, reason }) },
    );
    ms.send(callerRequest({ body: SIPP_OFFER, headers: ['Require: 100rel-from-the-future'] }));
    // RFC 3261 §8.2.2.3: 420 with the unsupported option in Unsupported.
    const answer = ms.responses().at(-1);
    expect([answer?.status, answer?.get('unsupported')]).toEqual([420, '100rel-from-the-future']);
    expect(refused.map((r) => [r.status, r.reason, r.call.callId, r.call.from])).toEqual([
      [420, 'request-check', 'call-a@127.0.0.1', 'sip:sipp@127.0.0.1:5070'],
    ]);
    // Session-Expires below Min-SE: 422, a negotiation step the caller follows at once.
    ms.send(
      callerRequest({
        body: SIPP_OFFER,
        branch: 'z9hG4bK-se',
        callId: 'call-se',
        headers: ['Session-Expires: 30'],
      }),
    );
    expect(ms.responses().at(-1)?.status).toBe(422);
    expect(refused).toHaveLength(1);
  });
});
