// transcribeRecording with a FakeClock and a scripted pool: waiting for a slot, feeding the stream,
// and cancellation (shutdown) before and after the stream opened.
import { describe, expect, it } from 'vitest';
import { MemoryRecording, transcribeRecording } from '../../../src/stt/DeferredTranscriber.js';
import type { SttPool } from '../../../src/stt/SttPool.js';
import type { FinalTranscript } from '../../../src/stt/types.js';
import { FakeClock } from '../../helpers/FakeClock.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

class ScriptedStream {
  frames = 0;
  state: 'streaming' | 'flushing' | 'closed' = 'streaming';
  readonly queuedFrames = 0;
  pushFrame(): void {
    this.frames++;
  }
  flush(): Promise<FinalTranscript> {
    this.state = 'closed';
    return Promise.resolve({
      utterances: [],
      words: [],
      text: '',
      complete: true,
      audioMs: this.frames * 80,
      reconnects: 0,
    });
  }
  close(): void {
    this.state = 'closed';
  }
}

class ScriptedPool {
  slotFree = false;
  stopped = false;
  reserves = 0;
  released = 0;
  stream: ScriptedStream | null = null;
  reserve(): Promise<unknown> {
    this.reserves++;
    return Promise.resolve(
      this.slotFree && !this.stopped
        ? { server: 'ws://stt.test/api/asr-streaming', release: () => void this.released++ }
        : null,
    );
  }
  open(): ScriptedStream {
    this.stream = new ScriptedStream();
    return this.stream;
  }
}

function recording(frames: number): MemoryRecording {
  const r = new MemoryRecording();
  for (let i = 0; i < frames; i++) {
    r.push(new Float32Array(1920));
  }
  return r;
}

describe('transcribeRecording', () => {
  it('polls for a slot every retryMs, then streams every frame and flushes', async () => {
    const clock = new FakeClock(0);
    const pool = new ScriptedPool();
    const opened: string[] = [];
    const done = transcribeRecording(
      pool as unknown as SttPool,
      recording(25),
      { callId: 'c', answeredWallMs: 0, clock, retryMs: 1000, onStreamOpen: (s) => opened.push(s) },
      {},
    );
    await tick();
    expect(pool.reserves).toBe(1);
    clock.advance(1000);
    await tick();
    expect(pool.reserves).toBe(2);
    pool.slotFree = true;
    clock.advance(1000);
    const final = await done;
    expect(pool.reserves).toBe(3);
    expect(opened).toEqual(['ws://stt.test/api/asr-streaming']);
    expect(pool.stream?.frames).toBe(25);
    expect(final.complete).toBe(true);
  });

  it('cancelled while waiting for a slot: STT_ERR_CANCELLED at once, no more polls', async () => {
    const clock = new FakeClock(0);
    const pool = new ScriptedPool();
    const abort = new AbortController();
    const done = transcribeRecording(
      pool as unknown as SttPool,
      recording(10),
      {
        callId: 'c',
        answeredWallMs: 0,
        clock,
        retryMs: 1000,
        maxWaitMs: Number.POSITIVE_INFINITY,
        signal: abort.signal,
      },
      {},
    );
    await tick();
    abort.abort();
    await expect(done).rejects.toMatchObject({ code: 'STT_ERR_CANCELLED' });
    const polls = pool.reserves;
    pool.slotFree = true;
    clock.advance(10_000);
    await tick();
    expect(pool.reserves).toBe(polls);
    expect(pool.stream).toBeNull();
  });

  it('a stopped pool cancels it too (nothing connects after the stop)', async () => {
    const clock = new FakeClock(0);
    const pool = new ScriptedPool();
    const done = transcribeRecording(
      pool as unknown as SttPool,
      recording(10),
      { callId: 'c', answeredWallMs: 0, clock, retryMs: 1000 },
      {},
    );
    await tick();
    pool.stopped = true;
    clock.advance(1000);
    await expect(done).rejects.toMatchObject({ code: 'STT_ERR_CANCELLED' });
    expect(pool.stream).toBeNull();
  });

  it('cancelled while streaming: the stream is closed without its flush', async () => {
    const clock = new FakeClock(0);
    const pool = new ScriptedPool();
    pool.slotFree = true;
    const abort = new AbortController();
    const rec = {
      // An endless recording: only the cancel ends it.
      async *frames(): AsyncIterable<Float32Array> {
        for (;;) {
          await tick();
          yield new Float32Array(1920);
        }
      },
    };
    const done = transcribeRecording(
      pool as unknown as SttPool,
      rec,
      { callId: 'c', answeredWallMs: 0, clock, signal: abort.signal },
      {},
    );
    await tick();
    await tick();
    expect(pool.stream?.state).toBe('streaming');
    abort.abort();
    await expect(done).rejects.toMatchObject({ code: 'STT_ERR_CANCELLED' });
    expect(pool.stream?.state).toBe('closed');
  });
});
