/**
 * `npm run bench -- soak [--calls=2000] [--concurrency=20] [--call-ms=1000] [--max-minutes=10]`:
 * many short calls in sequence at a steady concurrency against one sipscribe process (its own
 * process, the fake moshi-server in another, the load generator in this one: real SIP and RTP over
 * UDP on 127.0.0.1). Prints the process's own figures from /metrics (RSS, heap used, open file
 * descriptors, active handles) idle before the first call, every tenth of the calls under load,
 * and idle after the last call, then the growth. Stops after `--calls` or `--max-minutes`.
 */
import { parseArgs } from 'node:util';
import { LoadGenerator } from './loadGenerator.js';
import { metricSum, percentile, rssOf, sleep, startFakeStt, startSipscribe, waitFor } from './loadRig.js';

interface Options {
  calls: number;
  concurrency: number;
  callMs: number;
  maxMinutes: number;
}

function options(): Options {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      calls: { type: 'string', default: '2000' },
      concurrency: { type: 'string', default: '20' },
      'call-ms': { type: 'string', default: '1000' },
      'max-minutes': { type: 'string', default: '10' },
    },
    strict: false,
    allowPositionals: true,
  });
  const o = {
    calls: Number(values['calls']),
    concurrency: Number(values['concurrency']),
    callMs: Number(values['call-ms']),
    maxMinutes: Number(values['max-minutes']),
  };
  if (
    !(Number.isInteger(o.calls) && o.calls > 0) ||
    !(Number.isInteger(o.concurrency) && o.concurrency > 0) ||
    !(o.callMs >= 0) ||
    !(o.maxMinutes > 0)
  ) {
    throw new Error('soak: --calls and --concurrency positive integers, --call-ms ≥ 0, --max-minutes > 0');
  }
  return o;
}

interface Snapshot {
  label: string;
  rss: number;
  heapUsed: number;
  fds: number;
  handles: number;
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

function line(s: Snapshot): string {
  return `| ${s.label} | ${mb(s.rss)} | ${mb(s.heapUsed)} | ${s.fds} | ${s.handles} |`;
}

export async function run(): Promise<void> {
  const o = options();
  console.log(
    `(${o.calls} calls of ${o.callMs} ms of RTP, ${o.concurrency} at a time, at most ${o.maxMinutes} min; ` +
      'the machine may be shared: say so next to the figures)',
  );
  const fake = await startFakeStt(5000);
  const sip = await startSipscribe(fake.url, o.concurrency);
  const gen = new LoadGenerator();
  const snapshot = async (label: string): Promise<Snapshot> => {
    const m = await sip.metrics();

    return {
      label,
      rss: rssOf(sip.pid),
      heapUsed: metricSum(m, 'sipscribe_nodejs_heap_size_used_bytes'),
      fds: metricSum(m, 'sipscribe_process_open_fds'),
      handles: metricSum(m, 'sipscribe_nodejs_active_handles_total'),
    };
  };
  try {
    await gen.start();
    gen.startStreaming();
    await sleep(1000);
    console.log('| when | RSS | heap used | open fds | active handles |');
    console.log('|---|---|---|---|---|');
    const idleStart = await snapshot('idle, before the first call');
    console.log(line(idleStart));
    const target = `127.0.0.1:${sip.sipPort}`;
    const deadline = Date.now() + o.maxMinutes * 60_000;
    const setup: number[] = [];
    const refused: number[] = [];
    let placed = 0;
    let done = 0;
    const loaded: Snapshot[] = [];
    const t0 = performance.now();
    const worker = async (): Promise<void> => {
      while (placed < o.calls && Date.now() < deadline) {
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
        if (done % Math.max(1, Math.floor(o.calls / 10)) === 0 && done < o.calls) {
          const s = await snapshot(`${done} calls done (${o.concurrency} in progress)`);
          loaded.push(s);
          console.log(line(s));
        }
      }
    };
    await Promise.all(Array.from({ length: o.concurrency }, worker));
    const wallS = (performance.now() - t0) / 1000;
    await waitFor(async () => metricSum(await sip.metrics(), 'sipscribe_calls_active') === 0, 20_000);
    await sleep(3000);
    const idleEnd = await snapshot(`idle, after the last call (${done} calls)`);
    console.log(line(idleEnd));
    const m = await sip.metrics();
    const growth = (a: Snapshot, b: Snapshot): string =>
      `RSS ${mb(b.rss - a.rss)}, heap ${mb(b.heapUsed - a.heapUsed)}, fds ${b.fds - a.fds}, handles ${b.handles - a.handles}`;
    console.log(`growth idle → idle: ${growth(idleStart, idleEnd)}`);
    const first = loaded[0];
    const last = loaded[loaded.length - 1];
    if (first && last && first !== last) {
      console.log(`growth under load (${first.label} → ${last.label}): ${growth(first, last)}`);
    }
    console.log(
      `${done} calls in ${wallS.toFixed(0)} s (${(done / wallS).toFixed(1)} calls/s), ${refused.length} refused or failed` +
        `${refused.length ? ` (${[...new Set(refused)].join(', ')})` : ''}; setup p50 ${percentile(setup, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(setup, 99).toFixed(1)} ms; sipscribe counted ` +
        `${metricSum(m, 'sipscribe_calls_total')} finished calls, ` +
        `${metricSum(m, 'sipscribe_internal_errors_total')} internal errors`,
    );
    console.log(
      "  RSS from /proc/<pid>/status; heap, fds and handles from sipscribe's /metrics (prom-client's\n" +
        '  nodejs_heap_size_used_bytes, process_open_fds, nodejs_active_handles_total). No forced GC:\n' +
        '  heap used moves with the collector; a leak shows as growth idle → idle across many calls.',
    );
  } finally {
    await gen.stop();
    await sip.stop();
    await fake.stop();
  }
}
