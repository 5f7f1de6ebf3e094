// Many short calls through the whole product (SIPp → SIP → RTP → fake STT → storage/live) and back
// to the baseline: the process's active handles and timers, the RTP ports bound (seen by `ss`),
// the STT slots held and the heap after a full GC return to what they were after a first call.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { stopAll } from '../helpers/processes.js';
import { sippCall } from '../helpers/sipp.js';
import { boundUdpPorts, dbRows, startE2e, until, type E2e } from './e2eHarness.js';

const CALLS = 300;

const envs: E2e[] = [];
afterAll(async () => {
  for (const e of envs) {
    await e.close();
  }
  await stopAll();
});

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) {
    counts[r] = (counts[r] ?? 0) + 1;
  }
  return counts;
}

function heapMb(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1e6;
}

/** Resource types whose count is above the baseline's. */
function above(base: Record<string, number>, now: Record<string, number>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, n] of Object.entries(now)) {
    if (n > (base[k] ?? 0)) {
      out[k] = `${base[k] ?? 0} → ${n}`;
    }
  }
  return out;
}

describe('resources after many calls', () => {
  it(`${CALLS} short calls leave handles, ports, STT slots and memory at their baseline`, async () => {
    const e2e = await startE2e(
      'e2e-resources',
      // T1 = 100 ms: transactions linger 64·T1 (Timers J, L, M) after a call, 6.4 s instead of 32 s.
      // All calls come from one SIPp: lift the per-source rate limit that silences scanners and
      // the per-source limit on calls in progress.
      {
        sip: {
          timers: { t1: 100, t2: 4000, t4: 5000 },
          inbound: { maxCalls: 200, maxCallsPerSource: 200, rateLimit: { burst: 100, perSecond: 50 } },
        },
      },
      // A slot is held past SIPp's hangup until the call's flush completes, longer on a loaded
      // machine: with as many slots as calls, no call is refused for capacity (this test is about
      // what is left behind, not about admission).
      { fake: { slots: CALLS + 1, record: false }, webhook: false, live: false, rtpPorts: 200 },
    );
    envs.push(e2e);
    const target = `127.0.0.1:${e2e.sipPort}`;
    const countEnded = (): number =>
      dbRows<{ n: number }>(e2e.storageDir, "SELECT count(*) AS n FROM calls WHERE state = 'ended'")[0]?.n ??
      0;

    // Warm-up: one call, so that lazily created things (prepared statements, pools) exist.
    const warm = await sippCall(target, 'uac_call_pcmu.xml', { durationMs: 1000 });
    expect(warm.code, warm.output).toBe(0);
    await until(() => e2e.app.manager.size === 0 && countEnded() === 1, 'the warm-up call to end');
    await e2e.app.endpoint.bus.flush();
    // The baseline once the warm-up call's transactions (64·T1) and RTP sockets are gone.
    await until(() => {
      const { servers, clients } = e2e.app.stack.transactions.size;
      return servers + clients === 0;
    }, "the warm-up call's transactions to end");
    await until(
      async () => (await boundUdpPorts(e2e.rtpMin, e2e.rtpMax)).length === 0,
      "the warm-up call's RTP sockets to close",
    );
    const baseResources = resources();
    const baseHeap = heapMb();

    const run = await sippCall(target, 'uac_call_pcmu.xml', {
      calls: CALLS,
      // Leaks show in the count of calls, not in their concurrency: a gentle rate keeps the
      // in-process fake STT in real time on a loaded 2-core machine (at 15/s with 60 at once it
      // fell behind and refused calls there).
      rate: 10,
      durationMs: 1000,
      timeoutS: 120,
      extraArgs: ['-l', '30'],
    });
    expect(run.code, run.output).toBe(0);
    await until(() => e2e.app.manager.size === 0 && countEnded() === CALLS + 1, 'every call to end', 60_000);
    await e2e.app.endpoint.bus.flush();
    expect(e2e.app.endpoint.calls.active()).toEqual([]);

    // Back to the baseline (sockets and timers wind down asynchronously: poll, then assert).
    await until(
      () => Object.keys(above(baseResources, resources())).length === 0,
      'active resources to return to the baseline',
      30_000,
    ).catch(() => undefined);
    expect(above(baseResources, resources())).toEqual({});
    expect(await boundUdpPorts(e2e.rtpMin, e2e.rtpMax)).toEqual([]);
    await until(() => e2e.fake.usedSlots === 0, 'STT slots to be released');
    const heap = heapMb();
    console.log(`heap after warm-up ${baseHeap.toFixed(1)} MB, after ${CALLS} calls ${heap.toFixed(1)} MB`);
    expect(heap).toBeLessThan(baseHeap + 10);
  }, 240_000);
});
