/**
 * SIPp as a caller at a fixed rate (the `uac_bench.xml` scenario: INVITE/100/180/200/ACK/BYE, no
 * media, no pause), read back from its own files: calls created per second, successful and failed
 * calls, and each call's INVITE→200 setup time (RTD 1, `-trace_rtt`). `sip` and `burst` use it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from '../test/helpers/paths.js';
import { freePort } from '../test/helpers/ports.js';
import { run as runProcess } from '../test/helpers/processes.js';

export interface SippRun {
  readonly calls: number;
  readonly ok: number;
  /** Failed calls, and calls SIPp never completed. */
  readonly failed: number;
  readonly code: number | null;
  /** Setup times (ms), sorted. */
  readonly setupMs: readonly number[];
  /** Calls per second SIPp actually created (CallRate(C)); it falls behind when saturated. */
  readonly achieved: number;
  /** Completed calls per second of wall time, SIPp start and drain included. */
  readonly completedPerS: number;
}

/** `calls` calls to `127.0.0.1:port` at `rate` per second (at most `rate × 4` at once), SIPp's files in `dir`. */
export async function runSipp(port: number, rate: number, calls: number, dir: string): Promise<SippRun> {
  const seconds = calls / rate;
  const localPort = await freePort();
  const mediaPort = await freePort('127.0.0.1', 4);
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
      `${Math.ceil(seconds * 3 + 20)}s`,
      '-timeout_error',
    ],
    { cwd: dir, timeoutMs: Math.ceil(seconds * 3 + 40) * 1000 },
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
  const setupMs = rttFile
    ? readFileSync(join(dir, rttFile), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => Number(l.split(';')[1]))
        .filter((n) => Number.isFinite(n))
        .sort((a, b) => a - b)
    : [];
  return {
    calls,
    ok,
    failed: failed + Math.max(0, calls - ok - failed),
    code,
    setupMs,
    achieved: Number.isFinite(created) ? created : ok / wallS,
    completedPerS: ok / wallS,
  };
}
