import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/** A child process started by a test; `stop()` ends it (TERM, then KILL) and waits for it. */
export interface Managed {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or null after a signal) once the process has ended. */
  readonly exited: Promise<number | null>;
  output(): string;
  stop(): Promise<number | null>;
}

const running = new Set<Managed>();

export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Also append stdout and stderr to this file. */
  logFile?: string;
}

/**
 * Starts a process in its own process group and registers it, so that `stopAll()` (called by
 * every integration test's afterAll, and on process exit) ends it even when a test failed.
 */
export function start(name: string, cmd: string, args: readonly string[], opts: StartOptions = {}): Managed {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  const log = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
  const collect = (chunk: Buffer): void => {
    if (out.length < 1_000_000) {
      out += chunk.toString('utf8');
    }
    log?.write(chunk);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (err) => {
      out += `\n[spawn error] ${err.message}\n`;
      resolve(127);
    });
    child.once('close', (code) => {
      log?.end();
      resolve(code);
    });
  });
  const m: Managed = {
    name,
    child,
    exited,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        killGroup(child.pid, 'SIGTERM');
        const timer = setTimeout(() => {
          if (child.pid !== undefined) {
            killGroup(child.pid, 'SIGKILL');
          }
        }, 5000);
        await exited;
        clearTimeout(timer);
      }
      running.delete(m);
      return await exited;
    },
  };
  running.add(m);
  void exited.then(() => running.delete(m));
  return m;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Runs a process to completion (bounded by `timeoutMs`) and returns its exit code and output. */
export async function run(
  name: string,
  cmd: string,
  args: readonly string[],
  opts: StartOptions & { timeoutMs?: number } = {},
): Promise<{ code: number | null; output: string }> {
  const m = start(name, cmd, args, opts);
  const timer = setTimeout(() => void m.stop(), opts.timeoutMs ?? 60_000);
  const code = await m.exited;
  clearTimeout(timer);
  return { code, output: m.output() };
}

/** Ends every process that a test started and that is still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((m) => m.stop()));
}

process.once('exit', () => {
  for (const m of running) {
    if (m.child.pid !== undefined) {
      killGroup(m.child.pid, 'SIGKILL');
    }
  }
});
