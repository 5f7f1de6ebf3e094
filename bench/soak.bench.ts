/**
 * `npm run bench -- soak [--calls=10000] [--concurrency=20] [--call-ms=1000] [--max-minutes=30]
 * [--idle-at=2000] [--settle-s=40] [--heap-snapshot]`: many short calls in sequence at a steady concurrency against
 * one sipscribe process (its own process, the fake moshi-server in another, the load generator in
 * this one: real SIP and RTP over UDP on 127.0.0.1). Prints the process's own figures (RSS, heap
 * used, open file descriptors, active handles, timers, metric series) idle before the first call,
 * every tenth of the calls under load, idle at each `--idle-at` count of calls (the calls pause
 * there until none is up) and idle after the last call, then the growth. An idle reading waits
 * `--settle-s` after the last call ends: longer than the SIP transactions' 32 s timers (64·T1),
 * which would otherwise show as timers that every call leaves behind.
 *
 * The call registry keeps the last 1,000 finished calls in memory by design, so growth is judged
 * between idle points past 1,000 calls (`--idle-at=2000` against the end), not from the start.
 * `--heap-snapshot` writes a heap snapshot of sipscribe at every idle point (V8 collects all
 * garbage first, so the heap figure there is after a full GC) and prints the kinds of objects that
 * grew between the first idle point after calls and the last, per call.
 */
import { parseArgs } from 'node:util';
import { heapGrowthLines, heapTotalLine } from './heapSnapshot.js';
import { LoadGenerator } from './loadGenerator.js';
import {
  heapSnapshot,
  metricSum,
  percentile,
  rssOf,
  sleep,
  startFakeStt,
  startSipscribe,
  waitFor,
  type Sipscribe,
} from './loadRig.js';
import type { HeapSummary } from './heapSnapshot.js';

interface Options {
  calls: number;
  concurrency: number;
  callMs: number;
  maxMinutes: number;
  idleAt: number[];
  settleS: number;
  heapSnapshot: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      calls: { type: 'string', default: '10000' },
      concurrency: { type: 'string', default: '20' },
      'call-ms': { type: 'string', default: '1000' },
      'max-minutes': { type: 'string', default: '30' },
      'idle-at': { type: 'string', default: '2000' },
      'settle-s': { type: 'string', default: '40' },
      'heap-snapshot': { type: 'boolean', default: false },
    },
    strict: false,
    allowPositionals: true,
  });
  const o = {
    calls: Number(values['calls']),
    concurrency: Number(values['concurrency']),
    callMs: Number(values['call-ms']),
    maxMinutes: Number(values['max-minutes']),
    idleAt: String(values['idle-at'])
      .split(',')
      .filter((x) => x !== '')
      .map(Number),
    settleS: Number(values['settle-s']),
    heapSnapshot: values['heap-snapshot'] === true,
  };
  if (
    !(Number.isInteger(o.calls) && o.calls > 0) ||
    !(Number.isInteger(o.concurrency) && o.concurrency > 0) ||
    !(o.callMs >= 0) ||
    !(o.maxMinutes > 0) ||
    !(o.settleS >= 0) ||
    !o.idleAt.every((n) => Number.isInteger(n) && n > 0)
  ) {
    throw new Error(
      'soak: --calls and --concurrency positive integers, --call-ms ≥ 0, --max-minutes > 0, --idle-at positive integers, --settle-s ≥ 0',
    );
  }
  o.idleAt = [...new Set(o.idleAt.filter((n) => n < o.calls))].sort((a, b) => a - b);
  return o;
}

interface Reading {
  label: string;
  /** Calls finished when it was taken. */
  done: number;
  rss: number;
  heapUsed: number;
  fds: number;
  handles: number;
  /** Active `Timeout` resources (process.getActiveResourcesInfo, via prom-client). */
  timers: number;
  /** Lines of /metrics that are series (a label set per call would grow this). */
  series: number;
  /** STT connections whose socket is on a media thread (the warm ones when idle). */
  sttOnThreads: number;
  heap?: HeapSummary;
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

function line(s: Reading): string {
  return `| ${s.label} | ${mb(s.rss)} | ${mb(s.heapUsed)} | ${s.fds} | ${s.handles} | ${s.timers} | ${s.series} | ${s.sttOnThreads} |`;
}

function growth(a: Reading, b: Reading): string {
  return (
    `RSS ${mb(b.rss - a.rss)}, heap ${mb(b.heapUsed - a.heapUsed)}, fds ${b.fds - a.fds}, ` +
    `handles ${b.handles - a.handles}, timers ${b.timers - a.timers}, series ${b.series - a.series}, ` +
    `STT connections on the media threads ${b.sttOnThreads - a.sttOnThreads}`
  );
}

async function reading(sip: Sipscribe, label: string, done: number, withHeap: boolean): Promise<Reading> {
  // The snapshot first: V8 collects all garbage before writing it, so the figures after are net.
  const heap = withHeap ? await heapSnapshot(sip) : undefined;
  const m = await sip.metrics();
  return {
    label: heap ? `${label}, after a full GC` : label,
    done,
    rss: rssOf(sip.pid),
    heapUsed: metricSum(m, 'sipscribe_nodejs_heap_size_used_bytes'),
    fds: metricSum(m, 'sipscribe_process_open_fds'),
    handles: metricSum(m, 'sipscribe_nodejs_active_handles_total'),
    timers: m.get('sipscribe_nodejs_active_resources{type="Timeout"}') ?? 0,
    series: m.size,
    sttOnThreads: metricSum(m, 'sipscribe_media_thread_stt_connections'),
    ...(heap ? { heap } : {}),
  };
}

export async function run(): Promise<void> {
  const o = options();
  console.log(
    `(${o.calls} calls of ${o.callMs} ms of RTP, ${o.concurrency} at a time, idle points at ` +
      `${o.idleAt.length ? o.idleAt.join(', ') : 'none'} (each ${o.settleS} s after the last call), ` +
      `at most ${o.maxMinutes} min; ` +
      'the machine may be shared: say so next to the figures)',
  );
  const fake = await startFakeStt(5000);
  const sip = await startSipscribe(fake.url, o.concurrency, {
    nodeArgs: o.heapSnapshot ? ['--heapsnapshot-signal=SIGUSR2'] : [],
  });
  const gen = new LoadGenerator();
  try {
    await gen.start();
    gen.startStreaming();
    await sleep(1000);
    console.log(
      '| when | RSS | heap used | open fds | active handles | timers | metric series | STT connections on media threads |',
    );
    console.log('|---|---|---|---|---|---|---|---|');
    const idleStart = await reading(sip, 'idle, before the first call', 0, o.heapSnapshot);
    console.log(line(idleStart));
    const idle: Reading[] = [];
    const target = `127.0.0.1:${sip.sipPort}`;
    const deadline = Date.now() + o.maxMinutes * 60_000;
    const setup: number[] = [];
    const refused: number[] = [];
    let placed = 0;
    let done = 0;
    let busyMs = 0;
    const loaded: Reading[] = [];
    const tenth = Math.max(1, Math.floor(o.calls / 10));
    const idleNow = async (label: string): Promise<Reading> => {
      await waitFor(async () => metricSum(await sip.metrics(), 'sipscribe_calls_active') === 0, 20_000);
      await sleep(o.settleS * 1000);
      const r = await reading(sip, label, done, o.heapSnapshot);
      console.log(line(r));
      return r;
    };
    // The calls run in stages ending at each idle point: every call of a stage ends before the
    // reading, so it sees no call in progress.
    for (const stageEnd of [...o.idleAt, o.calls]) {
      const t0 = performance.now();
      const worker = async (): Promise<void> => {
        while (placed < stageEnd && Date.now() < deadline) {
          placed++;
          try {
            const c = await gen.place(target);
            setup.push(c.setupMs);
            await sleep(o.callMs);
            await gen.hangupAll([c], 1);
          } catch (err) {
            refused.push((err as { status?: number }).status ?? 0);
          }
          done++;
          if (done % tenth === 0 && done < o.calls && !o.idleAt.includes(done)) {
            const s = await reading(sip, `${done} calls done (${o.concurrency} in progress)`, done, false);
            loaded.push(s);
            console.log(line(s));
          }
        }
      };
      await Promise.all(Array.from({ length: o.concurrency }, worker));
      busyMs += performance.now() - t0;
      if (stageEnd < o.calls && done === stageEnd) {
        idle.push(await idleNow(`idle, ${done} calls done`));
      }
    }
    const wallS = busyMs / 1000;
    const idleEnd = await idleNow(`idle, after the last call (${done} calls)`);
    const m = await sip.metrics();
    console.log(`growth idle → idle: ${growth(idleStart, idleEnd)}`);
    const mid = idle[0];
    if (mid && done > mid.done) {
      const per1000 = (a: number, b: number): string => mb(((b - a) * 1000) / (done - mid.done));
      console.log(
        `growth from ${mid.done} to ${done} calls (idle → idle${mid.done < 1000 ? "; the registry's 1,000 finished calls still filling" : ''}): ` +
          `${growth(mid, idleEnd)}; per 1,000 calls RSS ${per1000(mid.rss, idleEnd.rss)}, heap ${per1000(mid.heapUsed, idleEnd.heapUsed)}`,
      );
      if (mid.heap && idleEnd.heap) {
        console.log(`heap kinds that grew from ${mid.done} to ${done} calls (after a full GC each):`);
        console.log(heapTotalLine(mid.heap, idleEnd.heap, done - mid.done));
        for (const l of heapGrowthLines(mid.heap.kinds, idleEnd.heap.kinds, done - mid.done, 12)) {
          console.log(l);
        }
        console.log(
          'by retainer path (kind ← the nearest object of a class of its own, then the fields to it):',
        );
        for (const l of heapGrowthLines(mid.heap.paths, idleEnd.heap.paths, done - mid.done, 12)) {
          console.log(l);
        }
      }
    }
    const first = loaded[0];
    const last = loaded[loaded.length - 1];
    if (first && last && first !== last) {
      console.log(`growth under load (${first.label} → ${last.label}): ${growth(first, last)}`);
    }
    console.log(
      `${done} calls in ${wallS.toFixed(0)} s of calls (${(done / wallS).toFixed(1)} calls/s), ${refused.length} refused or failed` +
        `${refused.length ? ` (${[...new Set(refused)].join(', ')})` : ''}; setup p50 ${percentile(setup, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(setup, 99).toFixed(1)} ms; sipscribe counted ` +
        `${metricSum(m, 'sipscribe_calls_total')} finished calls, ` +
        `${metricSum(m, 'sipscribe_internal_errors_total')} internal errors`,
    );
    console.log(
      "  RSS from /proc/<pid>/status; heap, fds, handles and timers from sipscribe's /metrics\n" +
        '  (prom-client: nodejs_heap_size_used_bytes, process_open_fds, nodejs_active_handles_total,\n' +
        '  nodejs_active_resources{type="Timeout"}); metric series: the lines of /metrics that are values.\n' +
        (o.heapSnapshot
          ? '  Idle heap figures are after the full GC of a heap snapshot.\n'
          : '  No forced GC (--heap-snapshot forces one at each idle point): heap used moves with the collector.\n') +
        '  The registry keeps the last 1,000 finished calls: compare idle points past 1,000 calls.',
    );
  } finally {
    await gen.stop();
    await sip.stop();
    await fake.stop();
  }
}
