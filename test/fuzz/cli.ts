/**
 * `npm run fuzz -- [--seconds 60] [--target name[,name…]] [--seed 1] [--runs N] [--hang-ms 10000]`
 *
 * Fuzzes each target in turn, in a worker thread, for its share of `--seconds` and/or `--runs`
 * inputs each (whichever ends first), prints per target the inputs run, inputs per second and findings, and saves each
 * new finding (a signature not already in test/fuzz/findings/ or test/fuzz/known/) as a
 * reproducer in test/fuzz/findings/. An input that stops the worker's heartbeat for `--hang-ms`
 * is a hang: the worker is terminated and the input saved. Exits 1 when there are new findings.
 */
import { Worker } from 'node:worker_threads';
import type { Finding, FuzzResult } from './engine.js';
import { FINDINGS_DIR, knownSignatures, saveFinding } from './findings.js';
import { TARGETS } from './targets.js';
import type { WorkerJob } from './worker.js';

/** How long a worker may take to load its target before its first input. */
const STARTUP_MS = 120_000;

interface Args {
  /** Total time for all targets; undefined: 60 s, or unbounded when `--runs` is given. */
  seconds: number | undefined;
  targets: string[];
  seed: number;
  runs: number | undefined;
  hangMs: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    seconds: undefined,
    targets: TARGETS.map((t) => t.name),
    seed: 1,
    runs: undefined,
    hangMs: 10_000,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const num = (): number => {
      const n = Number(value);
      if (value === undefined || !Number.isFinite(n) || n < 0) {
        throw new Error(`${flag} needs a number`);
      }
      i++;
      return n;
    };
    switch (flag) {
      case '--seconds':
        args.seconds = num();
        break;
      case '--seed':
        args.seed = num();
        break;
      case '--runs':
        args.runs = num();
        break;
      case '--hang-ms':
        args.hangMs = num();
        break;
      case '--target': {
        const names = (value ?? '').split(',').filter(Boolean);
        const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
        if (names.length === 0 || unknown.length > 0) {
          throw new Error(`--target: one of ${TARGETS.map((t) => t.name).join(', ')}`);
        }
        args.targets = names;
        i++;
        break;
      }
      case undefined:
      default:
        throw new Error(`unknown argument ${flag}`);
    }
  }
  return args;
}

/** Runs one target in a worker, with the hang watchdog. */
function runTarget(name: string, args: Args, budgetMs: number): Promise<FuzzResult> {
  const shared = new SharedArrayBuffer(8 + 80_000);
  const job: WorkerJob = {
    target: name,
    seed: args.seed,
    budgetMs,
    shared,
    ...(args.runs !== undefined ? { maxRuns: args.runs } : {}),
  };
  const worker = new Worker(new URL('./worker.mjs', import.meta.url), {
    workerData: job,
  });
  const words = new Int32Array(shared, 0, 2);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let last = -1;
    let lastChange = performance.now();
    const watchdog = setInterval(() => {
      const now = performance.now();
      const count = Atomics.load(words, 0);
      if (count !== last) {
        last = count;
        lastChange = now;
        return;
      }
      if (count === 0) {
        // Still starting (tsx compiles the target's modules in the worker): not a hang.
        if (now - started > STARTUP_MS) {
          clearInterval(watchdog);
          void worker.terminate();
          reject(new Error(`${name}: the worker did not start within ${STARTUP_MS} ms`));
        }
        return;
      }
      if (now - lastChange < args.hangMs) {
        return;
      }
      clearInterval(watchdog);
      const n = Atomics.load(words, 1);
      const input = new Uint8Array(shared, 8, n).slice();
      void worker.terminate();
      const finding: Finding = {
        target: name,
        kind: 'hang',
        signature: 'hang',
        message: `no progress for ${Math.round(now - lastChange)} ms`,
        ms: now - lastChange,
        seed: args.seed,
        iteration: count - 1,
        input,
      };
      resolve({ target: name, runs: count, elapsedMs: now - started, corpus: 0, findings: [finding] });
    }, 200);
    worker.once('message', (result: FuzzResult) => {
      clearInterval(watchdog);
      void worker.terminate();
      resolve(result);
    });
    worker.once('error', (err) => {
      clearInterval(watchdog);
      reject(err);
    });
  });
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const seconds = args.seconds ?? (args.runs !== undefined ? Infinity : 60);
  const budgetMs = (seconds * 1000) / args.targets.length;
  const known = knownSignatures();
  console.log(
    `fuzzing ${args.targets.length} target(s), seed ${args.seed}, ${
      [
        ...(args.runs !== undefined ? [`${args.runs} inputs`] : []),
        ...(Number.isFinite(budgetMs) ? [`${(budgetMs / 1000).toFixed(1)} s`] : []),
      ].join(' or ') + ' each'
    }`,
  );
  console.log(
    `${'target'.padEnd(12)} ${'inputs'.padStart(9)} ${'inputs/s'.padStart(9)} ${'corpus'.padStart(7)}  findings`,
  );
  let fresh = 0;
  for (const name of args.targets) {
    const r = await runTarget(name, args, budgetMs);
    const perSecond = r.runs / (r.elapsedMs / 1000);
    const lines: string[] = [];
    for (const f of r.findings) {
      const isNew = !known.has(`${f.target}|${f.signature}`);
      if (isNew) {
        fresh++;
        known.add(`${f.target}|${f.signature}`);
        const file = saveFinding(FINDINGS_DIR, f);
        lines.push(
          `  NEW ${f.kind} ${f.signature}\n      saved test/fuzz/findings/${file}\n      ${f.message.split('\n').join('\n      ')}`,
        );
      } else {
        lines.push(`  known ${f.kind} ${f.signature}`);
      }
    }
    console.log(
      `${name.padEnd(12)} ${String(r.runs).padStart(9)} ${perSecond.toFixed(0).padStart(9)} ${String(r.corpus).padStart(7)}  ${r.findings.length}`,
    );
    for (const l of lines) {
      console.log(l);
    }
  }
  console.log(fresh > 0 ? `${fresh} new finding(s) saved in test/fuzz/findings/` : 'no new findings');
  return fresh > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  },
);
