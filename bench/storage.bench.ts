/**
 * Storage off the hot path: the storage sink writing words in batches across calls (one SQLite
 * transaction and one append per call's JSONL file per batch, `storage.writeBatchMs`), on the main
 * thread (`batched`) and, as the product does, in the storage worker thread (`thread`:
 * SqliteEventWriter), against the way it was before, in the same run: one synchronous transaction
 * plus one synchronous JSONL write per word on the main thread.
 *
 * Two loads, each for both writers: words paced as calls produce them (`--calls=100`, 3 words per
 * call-second plus an utterance every 10 words, for `--seconds=5`), and a burst of 20 000 words as
 * fast as the bus takes them. Printed per writer: words/s, CPU per word (the whole process, user +
 * system, libuv's thread pool included), the main thread's busy share (event-loop utilization) and
 * its longest block.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import pino from 'pino';
import { wallClock } from '../lib/clock.js';
import type { CallEvent, CallMeta } from '../src/events.js';
import { CallStore } from '../src/storage/CallStore.js';
import { JsonlFiles } from '../src/storage/JsonlFiles.js';
import { openDatabase } from '../src/storage/database.js';
import { SqliteEventWriter } from '../src/storage/SqliteEventWriter.js';
import { StorageSink } from '../src/transcripts/StorageSink.js';
import { TranscriptBus, type TranscriptSink } from '../src/transcripts/TranscriptBus.js';

const META: CallMeta = {
  sipCallId: 'bench@127.0.0.1',
  from: 'sip:bench@127.0.0.1',
  to: 'sip:transcribe@127.0.0.1',
  account: null,
  transport: 'udp',
  codec: 'PCMU',
  source: '127.0.0.1:5060',
};

function option(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? Number(arg.slice(name.length + 3)) : fallback;
}

/** The baseline: what the storage sink did before batching (one transaction + writeSync per event). */
class PerWordSink implements TranscriptSink {
  readonly name = 'storage';
  readonly #fds = new Map<string, number>();

  constructor(
    private readonly store: CallStore,
    private readonly dir: string,
  ) {}

  handle(event: CallEvent): void {
    this.store.saveEvent(event);
    let fd = this.#fds.get(event.callId);
    if (fd === undefined) {
      fd = openSync(join(this.dir, 'calls', `${event.callId}.jsonl`), 'a');
      this.#fds.set(event.callId, fd);
    }
    writeSync(fd, `${JSON.stringify(event)}\n`);
  }

  close(): void {
    for (const fd of this.#fds.values()) {
      closeSync(fd);
    }
  }
}

type Writer = 'thread' | 'batched' | 'per-word' | 'none';

interface Result {
  words: number;
  ms: number;
  cpuUsPerWord: number;
  elu: number;
  maxBlockMs: number;
}

async function measure(writer: Writer, calls: number, pace: { seconds: number } | null): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'sipscribe-bench-storage-'));
  const db = openDatabase(dir);
  const store = new CallStore(db);
  const files = new JsonlFiles(dir);
  const bus = new TranscriptBus({ logger: pino({ level: 'silent' }), clock: wallClock, maxQueue: 1_000_000 });
  const thread =
    writer === 'thread' ? new SqliteEventWriter(dir, pino({ level: 'silent' }), wallClock) : null;
  bus.addSink(
    thread
      ? new StorageSink(thread, files, { intervalMs: option('batch-ms', 50) })
      : writer === 'batched'
        ? new StorageSink(store, files, { intervalMs: option('batch-ms', 50) })
        : writer === 'per-word'
          ? new PerWordSink(store, dir)
          : { name: 'none', handle: () => undefined },
  );
  // The worker starts once per process: started (an empty batch) before the measurement.
  await thread?.saveEvents([], []);
  for (let c = 0; c < calls; c++) {
    bus.openCall(`call-${c}`, META);
  }
  let words = 0;
  const publishWord = (c: number, w: number): void => {
    bus.publish(`call-${c}`, {
      type: 'transcript.word',
      text: `word${w}`,
      startMs: w * 300,
      channel: 'caller',
    });
    words++;
    if (w % 10 === 9) {
      bus.publish(`call-${c}`, {
        type: 'transcript.utterance',
        text: 'ten words of an utterance',
        startMs: (w - 9) * 300,
        endMs: w * 300,
        words: [],
        channel: 'caller',
        final: true,
      });
    }
  };
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  if (pace) {
    // Every call says 3 words per second; ticks of 20 ms spread them evenly.
    const tickMs = 20;
    const ticks = (pace.seconds * 1000) / tickMs;
    const perTick = (calls * 3 * tickMs) / 1000;
    let owed = 0;
    let next = 0;
    for (let t = 0; t < ticks; t++) {
      owed += perTick;
      for (; owed >= 1; owed--) {
        publishWord(next % calls, Math.floor(next / calls));
        next++;
      }
      const due = start + (t + 1) * tickMs;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    }
  } else {
    for (let w = 0; words < 20_000; w++) {
      for (let c = 0; c < calls; c++) {
        publishWord(c, w);
      }
      // Let the bus deliver as words would arrive from many sockets.
      await new Promise((r) => setImmediate(r));
    }
  }
  await bus.flush();
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  delay.disable();
  await bus.close();
  await thread?.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    words,
    ms,
    cpuUsPerWord: (cpu.user + cpu.system) / words,
    elu: elu.utilization,
    maxBlockMs: delay.max / 1e6,
  };
}

/** One writer's figures; CPU and main-thread share net of the same load with no storage at all. */
function line(label: string, r: Result, none: Result): string {
  return (
    `${label.padEnd(9)} ${String(r.words).padStart(6)} words in ${r.ms.toFixed(0).padStart(5)} ms = ` +
    `${String(Math.round((r.words / r.ms) * 1000)).padStart(6)} words/s, ` +
    `storage CPU ${(r.cpuUsPerWord - none.cpuUsPerWord).toFixed(1).padStart(6)} µs/word, ` +
    `main thread busy ${(r.elu * 100).toFixed(1).padStart(5)} % (no storage ${(none.elu * 100).toFixed(1)} %), ` +
    `longest block ${r.maxBlockMs.toFixed(1)} ms`
  );
}

async function compare(calls: number, pace: { seconds: number } | null): Promise<void> {
  const none = await measure('none', calls, pace);
  const base = await measure('per-word', calls, pace);
  const batch = await measure('batched', calls, pace);
  const thread = await measure('thread', calls, pace);
  console.log(line('per-word', base, none));
  console.log(line('batched', batch, none));
  console.log(line('thread', thread, none));
  const cost = (r: Result): number => r.cpuUsPerWord - none.cpuUsPerWord;
  console.log(
    `storage CPU per word, batched / per-word: ${(cost(batch) / cost(base)).toFixed(2)}, ` +
      `thread / per-word: ${(cost(thread) / cost(base)).toFixed(2)}`,
  );
}

export async function run(): Promise<void> {
  const calls = option('calls', 100);
  const seconds = option('seconds', 5);
  console.log(`paced: ${calls} calls, 3 words per call-second, ${seconds} s`);
  await compare(calls, { seconds });
  console.log(`burst: 20 000 words over ${calls} calls, as fast as the bus takes them`);
  await compare(calls, null);
}
