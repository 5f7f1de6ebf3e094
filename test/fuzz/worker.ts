/**
 * Runs the fuzzing loop of one target in a worker thread, so that the main thread can stop an
 * input that hangs. Before each input it copies the input into the shared buffer and bumps the
 * counter in its first word (the watchdog's heartbeat).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { fuzz } from './engine.js';
import { targetNamed } from './targets.js';

export interface WorkerJob {
  target: string;
  seed: number;
  budgetMs: number;
  maxRuns?: number;
  /** Int32 [0] = inputs started, [1] = length of the current input; its bytes from offset 8. */
  shared: SharedArrayBuffer;
}

const job = workerData as WorkerJob;
const target = targetNamed(job.target);
if (!target) {
  throw new Error(`unknown target ${job.target}`);
}
const words = new Int32Array(job.shared, 0, 2);
const bytes = new Uint8Array(job.shared, 8);
const result = await fuzz(target, {
  seed: job.seed,
  budgetMs: job.budgetMs,
  ...(job.maxRuns !== undefined ? { maxRuns: job.maxRuns } : {}),
  onInput: (input, iteration) => {
    const n = Math.min(input.byteLength, bytes.byteLength);
    bytes.set(input.subarray(0, n));
    Atomics.store(words, 1, n);
    Atomics.store(words, 0, iteration + 1);
  },
});
parentPort!.postMessage(result);
