/**
 * `npm run bench -- burst [--rates 500,1000] [--seconds 3] [--threads 0,auto]`: call bursts with the
 * STT in the loop, the whole process as a user runs it (issue 16 item 5). Per rate and `rtp.threads`
 * value: sipscribe (bin/sipscribe.js, its defaults: a warm set of 2) and the fake moshi-server
 * (5,000 slots) each in its own process, then SIPp placing `rate × seconds` calls at `rate` per
 * second (INVITE, ACK, BYE at once, no media): every call takes an STT slot at its ACK, opens its
 * stream and flushes it at the BYE. Prints what the caller saw (calls created per second, failed
 * calls, INVITE→200 setup p50/p99 from SIPp's RTD), what sipscribe did (calls by outcome, refusals
 * by reason, STT streams opened, warm hits, slow handshakes, the time from the answer to the
 * stream's opening p50/p99: the audio kept meanwhile), and the CPU sipscribe spent per call (its
 * main thread's apart) and in all over the burst, with the fake STT's per call beside it. The same rates at `rtp.threads 0` and `auto` in one run are each other's
 * baseline. Bounded: SIPp and the drain have time limits; processes are stopped at the end.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runDir } from '../test/helpers/paths.js';
import { stopAll } from '../test/helpers/processes.js';
import {
  cpuMsOf,
  parseThreads,
  percentile,
  startFakeStt,
  startSipscribe,
  threadCpuMsOf,
  waitFor,
} from './loadRig.js';
import { runSipp } from './sippRun.js';

const STT_SLOTS = 5000;
/** Calls in progress at most (a call lasts its setup plus its flush: about a second here). */
const MAX_CALLS = 2400;

interface Options {
  rates: number[];
  seconds: number;
  threads: (number | 'auto')[];
}

function options(): Options {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      rates: { type: 'string', default: '500,1000' },
      seconds: { type: 'string', default: '3' },
      threads: { type: 'string', default: '0,auto' },
    },
    strict: false,
    allowPositionals: true,
  });
  const rates = String(values['rates'])
    .split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  const seconds = Number(values['seconds']);
  if (rates.length === 0 || !(seconds >= 1 && seconds <= 60)) {
    throw new Error('burst: --rates R[,R…] (calls per second), --seconds 1–60');
  }
  return { rates, seconds, threads: parseThreads(values['threads'], 'burst') };
}

/** `afterAnswerMs` of every `stt stream open` line of sipscribe's log (pino JSON lines). */
function streamOpenDelays(logFile: string): number[] {
  const out: number[] = [];
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (line.includes('"stt stream open"')) {
      const ms = (JSON.parse(line) as { afterAnswerMs?: number }).afterAnswerMs;
      if (typeof ms === 'number') {
        out.push(ms);
      }
    }
  }
  return out;
}

/** `name{label="…"}` values of one metric, as `label=value` pairs, non-zero only. */
function byLabel(m: Map<string, number>, name: string): string {
  const parts: string[] = [];
  const re = new RegExp(`^${name}\\{[a-z_]+="([^"]+)"\\}$`);
  for (const [k, v] of m) {
    const match = re.exec(k);
    if (match && v > 0) {
      parts.push(`${match[1]} ${v}`);
    }
  }
  return parts.join(', ') || 'none';
}

async function burst(rate: number, seconds: number, threads: number | 'auto'): Promise<void> {
  const fake = await startFakeStt(STT_SLOTS);
  const s = await startSipscribe(fake.url, MAX_CALLS, { rtpThreads: threads });
  try {
    const cpu0 = cpuMsOf(s.pid);
    const main0 = threadCpuMsOf(s.pid, s.pid);
    const fake0 = cpuMsOf(fake.pid);
    const t0 = performance.now();
    const calls = rate * seconds;
    const r = await runSipp(s.sipPort, rate, calls, runDir(`bench-burst-${rate}`));
    // Every call ends through its flush: wait until none is in progress.
    const drained = await waitFor(
      async () => (await s.metrics()).get('sipscribe_calls_active') === 0,
      60_000,
    );
    const wallS = (performance.now() - t0) / 1000;
    const cpuMs = cpuMsOf(s.pid) - cpu0;
    const mainMs = threadCpuMsOf(s.pid, s.pid) - main0;
    const fakeMs = cpuMsOf(fake.pid) - fake0;
    const m = await s.metrics();
    const opens = streamOpenDelays(join(s.dir, 'sipscribe.log'));
    const stt = (e: string): number => m.get(`sipscribe_stt_events_total{event="${e}"}`) ?? 0;
    console.log(
      `| ${rate} | ${threads} | ${r.achieved.toFixed(0)} | ${r.ok} / ${r.failed} | ${percentile(r.setupMs, 50).toFixed(0)} / ${percentile(r.setupMs, 99).toFixed(0)} ` +
        `| ${byLabel(m, 'sipscribe_calls_total')} | ${byLabel(m, 'sipscribe_admission_refused_total')} ` +
        `| ${opens.length} (warm ${stt('warm_hits')}, slow ${stt('slow_handshakes')}, no server ${stt('no_server')}) ` +
        `| ${percentile(opens, 50).toFixed(0)} / ${percentile(opens, 99).toFixed(0)} ` +
        `| ${(cpuMs / calls).toFixed(2)} (main ${(mainMs / calls).toFixed(2)}) | ${(cpuMs / wallS / 10).toFixed(0)} % (main ${(mainMs / wallS / 10).toFixed(0)} %) | ${(fakeMs / calls).toFixed(2)} |` +
        (drained ? '' : ' (calls still in progress after 60 s)'),
    );
  } finally {
    await s.stop();
    await fake.stop();
  }
}

export async function run(): Promise<void> {
  const o = options();
  console.log(
    `(SIPp at each rate for ${o.seconds} s: INVITE, ACK, BYE at once; fake moshi-server with ${STT_SLOTS} slots; ` +
      'sipscribe with its defaults; the machine may be shared: say so next to the figures)',
  );
  console.log(
    '| rate /s | rtp.threads | created /s | ok / failed | setup p50 / p99 ms | calls by outcome | refused | STT streams opened | answer → stream open p50 / p99 ms | sipscribe CPU ms per call | sipscribe CPU (of one core) | fake STT CPU ms per call |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  try {
    for (const rate of o.rates) {
      for (const t of o.threads) {
        await burst(rate, o.seconds, t);
      }
    }
  } finally {
    await stopAll();
  }
  console.log(
    '  setup: INVITE sent → 200 OK received at SIPp (RTD 1). The STT slot is taken at the ACK, after the 200: ' +
      'what the caller says meanwhile is kept (stt.earlyAudioMs) and sent first; "answer → stream open" is how long that was.',
  );
}
