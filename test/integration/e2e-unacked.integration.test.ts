// End to end, calls that are answered and never ACKed (issue 10, item 7): four of them from one
// source used to take all four STT slots of the server until their ACK timeout (32 s), so a real
// caller got 503. Now the STT slot is taken at the ACK: the never-ACKed calls hold none, and the
// real call is transcribed while they wait for their ACK. The per-source limit bounds how many
// such calls one address can hold at all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallEvent } from '../../src/events.js';
import { stopAll } from '../helpers/processes.js';
import { sippCall } from '../helpers/sipp.js';
import { getJson, startE2e, until, type E2e } from './e2eHarness.js';
import { PCMU, peer, request, type Peer } from './sipPeer.js';

describe('answered, never ACKed', () => {
  let e2e: E2e;
  let scanner: Peer;

  beforeAll(async () => {
    e2e = await startE2e(
      'e2e-unacked',
      { sip: { inbound: { maxCallsPerSource: 5 } } },
      { fake: { slots: 4 }, webhook: false },
    );
    scanner = await peer('127.0.0.5', e2e.sipPort);
  });
  afterAll(async () => {
    scanner.close();
    await e2e.close();
    await stopAll();
  });

  it('holds no STT slot; a real caller is transcribed meanwhile; the 6th from one source gets 486', async () => {
    for (let i = 1; i <= 6; i++) {
      scanner.send(
        request(scanner, e2e.sipPort, {
          method: 'INVITE',
          callId: `no-ack-${i}`,
          branch: `z9hG4bK-noack-${i}`,
          body: PCMU(scanner),
        }),
      );
    }
    const finals = await until(() => {
      const f = new Map(scanner.got.filter((r) => r.status >= 200).map((r) => [r.callId, r.status]));
      return f.size === 6 ? f : undefined;
    }, 'a final answer to every INVITE');
    expect([...finals.values()].filter((s) => s === 200)).toHaveLength(5);
    expect(finals.get('no-ack-6')).toBe(486);
    // Five calls answered and waiting for their ACK: no STT slot taken, no stream opened.
    expect(e2e.fake.usedSlots).toBe(0);
    expect(e2e.fake.admitted).toHaveLength(0);

    const real = await sippCall(`127.0.0.1:${e2e.sipPort}`, 'uac_call_pcmu.xml', { durationMs: 3000 });
    expect(real.code, real.output).toBe(0);
    const ended = await until(
      () => e2e.live.find((ev): ev is Extract<CallEvent, { type: 'call.ended' }> => ev.type === 'call.ended'),
      'the real call to end',
    );
    expect(ended.transcript.length).toBeGreaterThan(0);
    expect(e2e.fake.admitted).toHaveLength(1);
    // The never-ACKed calls are still waiting (64·T1 = 32 s) and still hold nothing.
    const { calls } = await getJson<{ calls: { state: string; call: { source: string } }[] }>(
      `${e2e.base}/api/calls?limit=100`,
    );
    expect(calls.filter((c) => c.call.source.startsWith('127.0.0.5:')).map((c) => c.state)).toEqual(
      Array(5).fill('answered'),
    );
    expect(e2e.fake.usedSlots).toBe(0);
  });
});
