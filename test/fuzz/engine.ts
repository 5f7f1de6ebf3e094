/**
 * The fuzzing loop for one target: the seeds first, then mutations of the corpus (inputs with a
 * new outcome join it), each input timed. A finding is a crash (an exception that is not one of
 * the target's typed errors, or a problem its harness detected) or an input slower than the
 * target's threshold on five runs. Deterministic for a given seed: the i-th input does not
 * depend on time or on other targets.
 */
import { rng } from '../rtp/rng.js';
import { Mutator } from './mutator.js';
import { typedOutcome, type FuzzTarget } from './targets.js';

export type FindingKind = 'crash' | 'slow' | 'hang';

export interface Finding {
  target: string;
  kind: FindingKind;
  /** What identifies the bug (error and place, or `slow`): one reproducer is kept per signature. */
  signature: string;
  /** The error (stack head) or the time measured. */
  message: string;
  ms: number;
  seed: number;
  /** Index of the input in the target's sequence for this seed. */
  iteration: number;
  input: Uint8Array;
}

export interface FuzzResult {
  target: string;
  runs: number;
  elapsedMs: number;
  corpus: number;
  findings: Finding[];
}

export interface FuzzOptions {
  seed: number;
  /** Stop after this much wall time (ms)… */
  budgetMs?: number;
  /** …or after this many inputs (whichever comes first). */
  maxRuns?: number;
  /** Called with each input before it runs (the hang watchdog keeps it). */
  onInput?: (input: Uint8Array, iteration: number) => void;
}

/** The outcome of one input. */
export interface Check {
  outcome?: string;
  /** Set when the input crashed the target. */
  error?: unknown;
  /** Time of the run (or of its longest synchronous step, when the target measures it). */
  ms: number;
}

/** CPU time of this process so far, in ms (user + system): what an input costs, whatever the load. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Runs one input on a target and classifies what happened. Its time is the lower of the wall
 * time and the CPU time the process spent meanwhile: on a loaded machine the wall time of a cheap
 * input grows with the other processes, its CPU time does not (targets run one at a time).
 */
export async function check(target: FuzzTarget, input: Uint8Array): Promise<Check> {
  const t0 = performance.now();
  const c0 = cpuMs();
  const took = (wallMs: number): number => Math.min(wallMs, cpuMs() - c0);
  try {
    const o = await target.run(input);
    return typeof o === 'string'
      ? { outcome: o, ms: took(performance.now() - t0) }
      : { outcome: o.label, ms: took(o.blockedMs) };
  } catch (err) {
    const ms = took(performance.now() - t0);
    return target.typed(err) ? { outcome: typedOutcome(err), ms } : { error: err, ms };
  }
}

/**
 * The lowest time of up to five runs of an input, with a turn of the event loop between them (a
 * slow outlier from JIT warm-up, GC or load is not a finding).
 */
export async function confirmedMs(target: FuzzTarget, input: Uint8Array, first: number): Promise<number> {
  let ms = first;
  for (let i = 0; i < 4 && ms > target.slowMs; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    ms = Math.min(ms, (await check(target, input)).ms);
  }
  return ms;
}

/** A stable name for a crash: error class, message with numbers and quotes masked, first frame of ours. */
export function crashSignature(err: unknown): string {
  if (!(err instanceof Error)) {
    return `non-error ${typeof err}`;
  }
  const msg = err.message
    .split('\n')[0]!
    .replace(/"[^"]*"|'[^']*'/g, 'Q')
    .replace(/[0-9]+/g, 'N')
    .slice(0, 80);
  const frame = (err.stack ?? '')
    .split('\n')
    .map((l) => /\/((?:sip|rtp|src)\/[^:)]+):(\d+)/.exec(l))
    .find((m) => m !== null);
  return `${err.name}: ${msg}${frame ? ` @ ${frame[1]}:${frame[2]}` : ''}`;
}

/** Seed of a target's sequence: the run's seed mixed with the target's name (FNV-1a). */
export function targetSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) {
    h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}

/** Fuzzes one target for a time or a number of inputs. */
export async function fuzz(target: FuzzTarget, opts: FuzzOptions): Promise<FuzzResult> {
  const seeds = target.seeds();
  const mutator = new Mutator(
    rng(targetSeed(opts.seed, target.name)),
    seeds,
    target.dictionary,
    target.maxLen,
  );
  const outcomes = new Set<string>();
  const findings = new Map<string, Finding>();
  const start = performance.now();
  const deadline = start + (opts.budgetMs ?? Infinity);
  const maxRuns = opts.maxRuns ?? Infinity;
  let runs = 0;
  while (runs < maxRuns && performance.now() < deadline) {
    const input = runs < seeds.length ? seeds[runs]! : mutator.next();
    const iteration = runs++;
    opts.onInput?.(input, iteration);
    const c = await check(target, input);
    if (c.error !== undefined) {
      const signature = crashSignature(c.error);
      if (!findings.has(signature)) {
        const e = c.error;
        // The head of the stack, with paths relative to the repository.
        const message = (
          e instanceof Error
            ? (e.stack ?? e.message).split('\n').slice(0, 6).join('\n')
            : `non-error thrown: ${typeof e}`
        )
          .split(`${process.cwd()}/`)
          .join('');
        findings.set(signature, {
          target: target.name,
          kind: 'crash',
          signature,
          message,
          ms: c.ms,
          seed: opts.seed,
          iteration,
          input,
        });
      }
      continue;
    }
    if (c.ms > target.slowMs && !findings.has('slow')) {
      const ms = await confirmedMs(target, input, c.ms);
      if (ms > target.slowMs) {
        findings.set('slow', {
          target: target.name,
          kind: 'slow',
          signature: 'slow',
          message: `${ms.toFixed(1)} ms for ${input.byteLength} bytes (threshold ${target.slowMs} ms)`,
          ms,
          seed: opts.seed,
          iteration,
          input,
        });
      }
    }
    if (c.outcome !== undefined && !outcomes.has(c.outcome)) {
      outcomes.add(c.outcome);
      mutator.add(input);
    }
  }
  return {
    target: target.name,
    runs,
    elapsedMs: performance.now() - start,
    corpus: mutator.corpusSize,
    findings: [...findings.values()],
  };
}
