/**
 * SIPp (Debian's sip-tester) as a caller, callee or registrar on loopback, driven by the
 * scenarios in test/fixtures/sipp/ (copied from the lab; their rtp_stream paths are relative to
 * test/fixtures, which is SIPp's working directory here).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, runDir } from './paths.js';
import { freePort } from './ports.js';
import { run, start, type Managed } from './processes.js';

export type SipTransport = 'udp' | 'tcp';

const SIPP_T: Record<SipTransport, string> = { udp: 'u1', tcp: 't1' };

export interface SippResult {
  /** SIPp's exit code: 0 when every call of the scenario succeeded. */
  code: number | null;
  /** The SIP trace (`-trace_msg`). */
  messages: string;
  /** Lines the scenario logged (`<log>`), and SIPp's screen output. */
  logs: string;
  output: string;
  /** Status codes of the responses SIPp received, in order. */
  responses: number[];
  dir: string;
}

export interface SippCallOptions {
  transport?: SipTransport;
  /** Request-URI user (`-s`). */
  user?: string;
  /** Milliseconds between ACK and BYE (`-d`). */
  durationMs?: number;
  calls?: number;
  /** Calls per second (`-r`) when `calls` > 1. */
  rate?: number;
  timeoutS?: number;
  extraArgs?: readonly string[];
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function baseArgs(
  scenario: string,
  dir: string,
  localPort: number,
  mediaPort: number,
  t: SipTransport,
): string[] {
  return [
    '-sf',
    join(FIXTURES, 'sipp', scenario),
    '-i',
    '127.0.0.1',
    '-p',
    String(localPort),
    '-t',
    SIPP_T[t],
    '-mi',
    '127.0.0.1',
    '-mp',
    String(mediaPort),
    '-nostdin',
    '-trace_msg',
    '-message_file',
    join(dir, 'messages.log'),
    '-trace_err',
    '-error_file',
    join(dir, 'errors.log'),
    '-trace_logs',
    '-log_file',
    join(dir, 'logs.log'),
  ];
}

function collect(dir: string, code: number | null, output: string): SippResult {
  const messages = readOr(join(dir, 'messages.log'));
  const responses = [...messages.matchAll(/^SIP\/2\.0 (\d{3})/gm)].map((m) => Number(m[1]));
  return { code, messages, logs: readOr(join(dir, 'logs.log')), output, responses, dir };
}

/** Places `calls` calls (default one) from a SIPp UAC to `target` (`host:port`) and waits for the end. */
export async function sippCall(
  target: string,
  scenario: string,
  opts: SippCallOptions = {},
): Promise<SippResult> {
  const t = opts.transport ?? 'udp';
  const dir = runDir(`sipp-uac-${scenario.replace(/\.xml$/, '')}`);
  const localPort = await freePort();
  const mediaPort = await freePort('127.0.0.1', 4);
  const args = [
    target,
    ...baseArgs(scenario, dir, localPort, mediaPort, t),
    '-s',
    opts.user ?? 'alice',
    '-d',
    String(opts.durationMs ?? 4000),
    '-m',
    String(opts.calls ?? 1),
    '-timeout',
    `${opts.timeoutS ?? 30}s`,
    '-timeout_error',
    ...(opts.rate !== undefined ? ['-r', String(opts.rate)] : []),
    ...(opts.extraArgs ?? []),
  ];
  const { code, output } = await run('sipp-uac', 'sipp', args, {
    cwd: FIXTURES,
    timeoutMs: ((opts.timeoutS ?? 30) + 15) * 1000,
  });
  return collect(dir, code, output);
}

/** A SIPp callee running in the background; `finish()` stops it and returns what it saw. */
export interface SippServer {
  readonly port: number;
  readonly mediaPort: number;
  readonly process: Managed;
  /** Waits for SIPp to exit by itself (after `-m` calls), bounded by `timeoutMs`. */
  done(timeoutMs?: number): Promise<SippResult>;
  finish(): Promise<SippResult>;
}

export async function sippServer(
  scenario: string,
  opts: { transport?: SipTransport; calls?: number; extraArgs?: readonly string[] } = {},
): Promise<SippServer> {
  const t = opts.transport ?? 'udp';
  const dir = runDir(`sipp-uas-${scenario.replace(/\.xml$/, '')}`);
  const port = await freePort();
  const mediaPort = await freePort('127.0.0.1', 4);
  const args = [
    ...baseArgs(scenario, dir, port, mediaPort, t),
    ...(opts.calls !== undefined ? ['-m', String(opts.calls)] : []),
    ...(opts.extraArgs ?? []),
  ];
  const proc = start('sipp-uas', 'sipp', args, { cwd: FIXTURES });
  await waitForListen(proc, port, t);
  return {
    port,
    mediaPort,
    process: proc,
    done: async (timeoutMs = 30_000) => {
      const timer = setTimeout(() => void proc.stop(), timeoutMs);
      const code = await proc.exited;
      clearTimeout(timer);
      return collect(dir, code, proc.output());
    },
    finish: async () => collect(dir, await proc.stop(), proc.output()),
  };
}

/** Waits until something listens on `port` (checked with `ss`), or the process died. */
export async function waitForListen(
  proc: Managed,
  port: number,
  t: SipTransport,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const flag = t === 'udp' ? '-lnuH' : '-lntH';
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) {
      throw new Error(`${proc.name} exited (${proc.child.exitCode}) before listening:\n${proc.output()}`);
    }
    const { output } = await run('ss', 'ss', [flag, `sport = :${port}`], { timeoutMs: 5000 });
    if (output.includes(`:${port}`)) {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.name} did not listen on ${t}/${port} within ${timeoutMs} ms:\n${proc.output()}`);
}
