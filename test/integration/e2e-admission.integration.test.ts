// End to end, admission at the SIP edge: a source flooding INVITEs above its rate limit gets
// answers for the ones within the limit and nothing at all (no 100, no 503) for the rest; a
// source outside allowFrom gets 403 for OPTIONS (no record) and for INVITE (with a record); an
// offer with only G.729 gets the SIP stack's 488 and still a record and a metric. The peers are
// raw UDP sockets this test controls on distinct loopback addresses (the rate limit and the allow
// list are per address), so every datagram sent and received is known exactly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll } from '../helpers/processes.js';
import { getJson, startE2e, until, type E2e } from './e2eHarness.js';
import { G729, PCMU, peer, request, type Peer } from './sipPeer.js';

const FLOOD = 30;
const BURST = 5;
const PER_SECOND = 0.1; // the schema's minimum: one token back every 10 s

interface ApiCall {
  id: string;
  state: string;
  rejectStatus: number | null;
  call: { sipCallId: string; source: string; codec: string | null };
}

async function metric(e2e: E2e, line: string): Promise<number> {
  const text = await (await fetch(`${e2e.base}/metrics`)).text();
  const m = new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('admission at the SIP edge', () => {
  let e2e: E2e;
  const peers: Peer[] = [];

  beforeAll(async () => {
    e2e = await startE2e(
      'e2e-admission',
      {
        sip: {
          inbound: {
            // 127.0.0.2 is outside; 60 s of ringing keeps admitted calls pending until we CANCEL.
            allowFrom: ['127.0.0.1/32', '127.0.0.3/32'],
            rateLimit: { burst: BURST, perSecond: PER_SECOND },
            ringMs: 60_000,
          },
        },
      },
      { webhook: false, live: false },
    );
  });
  afterAll(async () => {
    for (const p of peers) {
      p.close();
    }
    await e2e.close();
    await stopAll();
  });

  it('a flood from one source: the INVITEs within the limit are answered, the rest get nothing at all', async () => {
    const flood = await peer('127.0.0.3', e2e.sipPort);
    const outsider = await peer('127.0.0.2', e2e.sipPort);
    peers.push(flood, outsider);
    const started = Date.now();
    for (let n = 0; n < FLOOD; n++) {
      flood.send(
        request(flood, e2e.sipPort, {
          method: 'INVITE',
          callId: `flood-${n}`,
          branch: `z9hG4bK-flood-${n}`,
          body: PCMU(flood),
        }),
      );
    }
    // Barrier: the stack reads its socket in order, so once another source's OPTIONS is answered
    // every INVITE of the flood was screened (and the admitted ones were answered 100 + 180).
    outsider.send(
      request(outsider, e2e.sipPort, { method: 'OPTIONS', callId: 'probe', branch: 'z9hG4bK-probe' }),
    );
    const probe = await until(() => outsider.got[0], "the outsider's OPTIONS answer");
    // Refill during the flood (one token per 10 s): the bound on what may have got through.
    const maxAdmitted = BURST + Math.floor(((Date.now() - started) / 1000) * PER_SECOND);
    // A source outside allowFrom: its OPTIONS gets 403 from the screen.
    expect(probe.status).toBe(403);

    const admitted = await until(() => {
      const ids = new Set(flood.got.filter((r) => r.status === 180).map((r) => r.callId));
      return ids.size >= BURST ? [...ids] : undefined;
    }, 'the admitted calls to ring');
    // CANCEL the ringing calls: a CANCEL of a pending INVITE is never screened (the bucket is empty).
    for (const callId of admitted) {
      const n = callId.replace('flood-', '');
      flood.send(request(flood, e2e.sipPort, { method: 'CANCEL', callId, branch: `z9hG4bK-flood-${n}` }));
    }
    const finals = await until(() => {
      const f = flood.got.filter((r) => r.status === 487);
      return f.length === admitted.length ? f : undefined;
    }, 'the 487s');
    for (const r of finals) {
      const n = r.callId.replace('flood-', '');
      flood.send(
        request(flood, e2e.sipPort, {
          method: 'ACK',
          callId: r.callId,
          branch: `z9hG4bK-flood-${n}`,
          toTag: r.toTag ?? '',
        }),
      );
    }
    // Everything the flood source got, per call (its socket receives in order: the INVITE answers
    // came before the CANCEL answers, so nothing earlier can still be on its way).
    const byCall = new Map<string, string[]>();
    for (const r of flood.got) {
      byCall.set(r.callId, [...(byCall.get(r.callId) ?? []), `${r.status} ${r.cseq.method}`]);
    }
    expect(admitted.length).toBeGreaterThanOrEqual(BURST);
    expect(admitted.length).toBeLessThanOrEqual(maxAdmitted);
    expect([...byCall.keys()].sort()).toEqual([...admitted].sort());
    for (const callId of admitted) {
      expect(byCall.get(callId)).toEqual(['100 INVITE', '180 INVITE', '200 CANCEL', '487 INVITE']);
    }
    expect(flood.got.some((r) => r.status === 503)).toBe(false);
    // The product's own account of it: only the admitted calls have records, dropped ones are
    // counted, and the SIP stack created no transaction for them.
    const dropped = FLOOD - admitted.length;
    expect(e2e.app.stack.counters.screenedOut).toBe(dropped);
    expect(await metric(e2e, 'sipscribe_admission_refused_total{reason="rate-limited"}')).toBe(dropped);
    const { calls } = await getJson<{ calls: ApiCall[] }>(`${e2e.base}/api/calls?limit=100`);
    const fromFlood = calls.filter((c) => c.call.source.startsWith('127.0.0.3:'));
    expect(fromFlood.map((c) => c.call.sipCallId).sort()).toEqual([...admitted].sort());
    await until(
      async () =>
        (await getJson<{ calls: ApiCall[] }>(`${e2e.base}/api/calls?limit=100`)).calls
          .filter((c) => c.call.source.startsWith('127.0.0.3:'))
          .every((c) => c.state === 'cancelled'),
      'the admitted calls to be cancelled',
    );
  });

  /** The /api/refused row of a source and reason. */
  async function refusedRow(source: string, reason: string): Promise<Record<string, unknown> | undefined> {
    const { refused } = await getJson<{ refused: { source: string; reason: string }[] }>(
      `${e2e.base}/api/refused`,
    );
    return refused.find((r) => r.source === source && r.reason === reason);
  }

  it('an INVITE from outside allowFrom gets 403, counted in /api/refused without a call record', async () => {
    const outsider = await peer('127.0.0.2', e2e.sipPort);
    peers.push(outsider);
    outsider.send(
      request(outsider, e2e.sipPort, {
        method: 'INVITE',
        callId: 'outsider-invite',
        branch: 'z9hG4bK-outsider',
        body: PCMU(outsider),
      }),
    );
    const final = await until(() => outsider.got.find((r) => r.status >= 200), 'the final answer');
    expect(outsider.got.map((r) => r.status)).toEqual([100, 403]);
    outsider.send(
      request(outsider, e2e.sipPort, {
        method: 'ACK',
        callId: 'outsider-invite',
        branch: 'z9hG4bK-outsider',
        toTag: final.toTag ?? '',
      }),
    );
    const { calls } = await getJson<{ calls: ApiCall[] }>(`${e2e.base}/api/calls?limit=100`);
    expect(calls.find((c) => c.call.sipCallId === 'outsider-invite')).toBeUndefined();
    expect(await refusedRow('127.0.0.2', 'not-allowed')).toMatchObject({ status: 403, count: 1 });
  });

  it('an offer with only G.729 gets 488 and appears in /api/refused and /metrics as rejected', async () => {
    const caller = await peer('127.0.0.1', e2e.sipPort);
    peers.push(caller);
    const rejectedBefore = await metric(e2e, 'sipscribe_calls_total{outcome="rejected"}');
    caller.send(
      request(caller, e2e.sipPort, {
        method: 'INVITE',
        callId: 'g729-only',
        branch: 'z9hG4bK-g729',
        body: G729(caller),
      }),
    );
    const final = await until(() => caller.got.find((r) => r.status >= 200), 'the final answer');
    expect(caller.got.map((r) => r.status)).toEqual([100, 488]);
    expect(final.get('warning')).toMatch(/^305 \S+ "Incompatible media format"$/);
    caller.send(
      request(caller, e2e.sipPort, {
        method: 'ACK',
        callId: 'g729-only',
        branch: 'z9hG4bK-g729',
        toTag: final.toTag ?? '',
      }),
    );
    const { calls } = await getJson<{ calls: ApiCall[] }>(`${e2e.base}/api/calls?limit=100`);
    expect(calls.find((c) => c.call.sipCallId === 'g729-only')).toBeUndefined();
    expect(await refusedRow('127.0.0.1', 'no-codec')).toMatchObject({ status: 488 });
    expect(await metric(e2e, 'sipscribe_calls_total{outcome="rejected"}')).toBe(rejectedBefore + 1);
    expect(e2e.app.manager.size).toBe(0);
  });

  it('an INVITE whose SDP does not parse gets 400 Bad SDP, counted in /api/refused and by the SIP counter', async () => {
    const caller = await peer('127.0.0.1', e2e.sipPort);
    peers.push(caller);
    const before = await metric(e2e, 'sipscribe_sip_events_total{event="malformed_rejected"}');
    // An SDP without any m= line (RFC 4566 §5: media descriptions carry the streams).
    caller.send(
      request(caller, e2e.sipPort, {
        method: 'INVITE',
        callId: 'bad-sdp',
        branch: 'z9hG4bK-badsdp',
        body: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n',
      }),
    );
    const final = await until(() => caller.got.find((r) => r.status >= 200), 'the final answer');
    expect([final.status, final.reason]).toEqual([400, 'Bad SDP']);
    expect(final.get('warning')).toMatch(/^399 \S+ "SDP has no m= line"$/);
    caller.send(
      request(caller, e2e.sipPort, {
        method: 'ACK',
        callId: 'bad-sdp',
        branch: 'z9hG4bK-badsdp',
        toTag: final.toTag ?? '',
      }),
    );
    expect(await refusedRow('127.0.0.1', 'bad-sdp')).toMatchObject({ status: 400 });
    expect(await metric(e2e, 'sipscribe_sip_events_total{event="malformed_rejected"}')).toBe(before + 1);
  });
});
