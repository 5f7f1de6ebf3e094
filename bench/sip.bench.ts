/**
 * Call-setup rate of the SIP stack with SIPp as the caller (INVITE/100/180/200/ACK/BYE, no media)
 * against a SipStack in this process that rings and answers at once. Steps of STEP_S seconds at
 * increasing rates; reports the highest rate sustained (zero failed calls, SIPp creating calls within
 * 5 % of the target rate) and the INVITE→200 setup time
 * (p50/p99) measured by SIPp (RTD 1). Env: SIP_BENCH_RATES="200,400,...", SIP_BENCH_STEP_S=10.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SipStack } from '../sip/index.js';
import { FIXTURES, runDir } from '../test/helpers/paths.js';
import { freePort } from '../test/helpers/ports.js';
import { run as runProcess, stopAll } from '../test/helpers/processes.js';

interface Step {
  rate: number;
  calls: number;
  ok: number;
  failed: number;
  code: number | null;
  p50: number;
  p99: number;
  answered: number;
  /** Calls per second SIPp actually created (CallRate(C)); it falls behind when saturated. */
  achieved: number;
  /** Completed calls per second of wall time, SIPp start and drain included. */
  completedPerS: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) {
    return NaN;
  }
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function step(port: number, rate: number, seconds: number, stack: SipStack): Promise<Step> {
  const dir = runDir(`bench-sip-${rate}`);
  const calls = rate * seconds;
  const localPort = await freePort();
  const mediaPort = await freePort('127.0.0.1', 4);
  const before = answeredCount;
  const t0 = performance.now();
  const { code, output } = await runProcess(
    'sipp-bench',
    'sipp',
    [
      `127.0.0.1:${port}`,
      '-sf',
      join(FIXTURES, 'sipp', 'uac_bench.xml'),
      '-i',
      '127.0.0.1',
      '-p',
      String(localPort),
      '-mi',
      '127.0.0.1',
      '-mp',
      String(mediaPort),
      '-t',
      'u1',
      '-s',
      'bench',
      '-r',
      String(rate),
      '-m',
      String(calls),
      '-l',
      String(rate * 4),
      '-nostdin',
      '-trace_rtt',
      '-rtt_freq',
      '1',
      '-trace_stat',
      '-fd',
      '1',
      '-timeout',
      `${seconds * 3 + 20}s`,
      '-timeout_error',
    ],
    { cwd: dir, timeoutMs: (seconds * 3 + 40) * 1000 },
  );
  const wallS = (performance.now() - t0) / 1000;
  const statFile = readdirSync(dir).find((f) => f.endsWith('_.csv'));
  let ok = 0;
  let failed = 0;
  let created = NaN;
  if (statFile) {
    const lines = readFileSync(join(dir, statFile), 'utf8').trim().split('\n');
    const header = (lines[0] ?? '').split(';');
    const last = (lines[lines.length - 1] ?? '').split(';');
    ok = Number(last[header.indexOf('SuccessfulCall(C)')] ?? 0);
    failed = Number(last[header.indexOf('FailedCall(C)')] ?? 0);
    created = Number(last[header.indexOf('CallRate(C)')] ?? NaN);
  } else {
    ok = Number(/Successful call\s*\|\s*\d+\s*\|\s*(\d+)/.exec(output)?.[1] ?? 0);
    failed = Number(/Failed call\s*\|\s*\d+\s*\|\s*(\d+)/.exec(output)?.[1] ?? 0);
  }
  const rttFile = readdirSync(dir).find((f) => f.endsWith('_rtt.csv'));
  const rtts = rttFile
    ? readFileSync(join(dir, rttFile), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => Number(l.split(';')[1]))
        .filter((n) => Number.isFinite(n))
        .sort((a, b) => a - b)
    : [];
  void stack;
  return {
    rate,
    calls,
    ok,
    failed: failed + Math.max(0, calls - ok - failed),
    code,
    p50: percentile(rtts, 50),
    p99: percentile(rtts, 99),
    answered: answeredCount - before,
    achieved: Number.isFinite(created) ? created : ok / wallS,
    completedPerS: ok / wallS,
  };
}

let answeredCount = 0;

export async function run(): Promise<void> {
  const rates = (process.env['SIP_BENCH_RATES'] ?? '200,400,600,800,1000,1200')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const seconds = Number(process.env['SIP_BENCH_STEP_S'] ?? 10);
  const port = await freePort();
  const stack = new SipStack(
    { listen: [{ transport: 'udp', host: '127.0.0.1', port }], userAgent: 'sipscribe-bench' },
    {
      onInvite: (call) => {
        call.ring();
        call.answer({ address: '127.0.0.1', port: 40000 }).then(
          () => {
            answeredCount++;
          },
          () => undefined,
        );
      },
    },
  );
  await stack.start();
  console.log(
    `SIPp UAC → SipStack (in-process, UDP, one Node thread), ${seconds} s per step; machine shared (2 cores, other agents running)`,
  );
  console.log('rate/s  created/s   calls  ok     failed  sipp-rc  setup p50 ms  p99 ms');
  let best: Step | undefined;
  try {
    for (const rate of rates) {
      const s = await step(port, rate, seconds, stack);
      console.log(
        `${String(s.rate).padEnd(7)} ${s.achieved.toFixed(0).padEnd(11)} ${String(s.calls).padEnd(6)} ${String(s.ok).padEnd(6)} ${String(s.failed).padEnd(7)} ${String(s.code).padEnd(8)} ${s.p50.toFixed(1).padEnd(13)} ${s.p99.toFixed(1)}`,
      );
      // Sustained: no failed call and SIPp kept within 5 % of the target rate.
      if (s.failed === 0 && s.code === 0 && s.achieved >= 0.95 * s.rate) {
        best = s;
      } else {
        console.log(
          `  not sustained at ${s.rate}/s (failed ${s.failed}, created ${s.achieved.toFixed(0)}/s)`,
        );
        break;
      }
    }
  } finally {
    await stack.stop();
    await stopAll();
  }
  console.log(
    best
      ? `highest sustained rate (zero failed calls, SIPp within 5 % of target): ${best.rate} calls/s (SIPp created ${best.achieved.toFixed(0)} calls/s), ${seconds} s steps, setup p50 ${best.p50.toFixed(1)} ms, p99 ${best.p99.toFixed(1)} ms (SIPp RTD, 1 ms resolution)`
      : 'no step completed without failures',
  );
  console.log(`counters: ${JSON.stringify(stack.counters)}`);
}
