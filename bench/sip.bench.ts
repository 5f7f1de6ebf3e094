/**
 * Call-setup rate of the SIP stack with SIPp as the caller (INVITE/100/180/200/ACK/BYE, no media)
 * against a SipStack in this process that rings and answers at once. Steps of STEP_S seconds at
 * increasing rates; reports the highest rate sustained (zero failed calls, SIPp creating calls within
 * 5 % of the target rate) and the INVITE→200 setup time
 * (p50/p99) measured by SIPp (RTD 1). Env: SIP_BENCH_RATES="200,400,...", SIP_BENCH_STEP_S=10,
 * SIP_BENCH_SUSTAIN_S=60 (the confirmation run at the best step's rate).
 */
import { SipStack } from '../sip/index.js';
import { runDir } from '../test/helpers/paths.js';
import { freePort } from '../test/helpers/ports.js';
import { stopAll } from '../test/helpers/processes.js';
import { percentile } from './loadRig.js';
import { runSipp } from './sippRun.js';

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

async function step(port: number, rate: number, seconds: number): Promise<Step> {
  const before = answeredCount;
  const r = await runSipp(port, rate, rate * seconds, runDir(`bench-sip-${rate}`));
  return {
    rate,
    calls: r.calls,
    ok: r.ok,
    failed: r.failed,
    code: r.code,
    p50: percentile(r.setupMs, 50),
    p99: percentile(r.setupMs, 99),
    answered: answeredCount - before,
    achieved: r.achieved,
    completedPerS: r.completedPerS,
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
  let sustained: Step | undefined;
  try {
    for (const rate of rates) {
      const s = await step(port, rate, seconds);
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
    // Confirm the best step over a long run (60 s by default): the figure the issue asks for is the
    // highest rate sustained for a minute with zero failed calls. Step down by 20 % if it fails.
    const sustainS = Number(process.env['SIP_BENCH_SUSTAIN_S'] ?? 60);
    let rate = best?.rate;
    for (let tries = 0; rate !== undefined && sustainS > 0 && tries < 3; tries++) {
      const s = await step(port, rate, sustainS);
      console.log(
        `${sustainS} s at ${rate}/s: created ${s.achieved.toFixed(0)}/s, ${s.ok} ok, ${s.failed} failed, setup p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms`,
      );
      if (s.failed === 0 && s.code === 0 && s.achieved >= 0.95 * s.rate) {
        sustained = s;
        break;
      }
      rate = Math.floor(rate * 0.8);
    }
  } finally {
    await stack.stop();
    await stopAll();
  }
  console.log(
    best
      ? `highest step rate (zero failed calls, SIPp within 5 % of target): ${best.rate} calls/s (SIPp created ${best.achieved.toFixed(0)} calls/s), ${seconds} s steps, setup p50 ${best.p50.toFixed(1)} ms, p99 ${best.p99.toFixed(1)} ms (SIPp RTD, 1 ms resolution)`
      : 'no step completed without failures',
  );
  if (sustained) {
    console.log(
      `sustained for ${sustained.calls / sustained.rate} s with zero failed calls: ${sustained.rate} calls/s, setup p50 ${sustained.p50.toFixed(1)} ms, p99 ${sustained.p99.toFixed(1)} ms`,
    );
  }
  console.log(`counters: ${JSON.stringify(stack.counters)}`);
}
