/**
 * The deferred path of admission (`stt.whenFull: "defer"`): the call was answered without an STT
 * slot, its audio was recorded; when a slot frees up, the recording is streamed like a live call
 * (same framing, flush and timing rules: frame 0 is the answer, so word times are call times),
 * at `speed` × real time.
 */
import { systemClock, type Clock } from '../../lib/clock.js';
import { SttError, STT_ERR } from './errors.js';
import { silentLogger, type Logger } from '../../lib/logger.js';
import { FRAME_MS, FRAME_SAMPLES } from './protocol.js';
import type { SttPool } from './SttPool.js';
import type { SttStreamDelegate } from './streamTypes.js';
import type { FinalTranscript } from './types.js';

/** Recorded call audio, 1920-sample 24 kHz frames from the answer on. */
export interface RecordedAudio {
  frames(): Iterable<Float32Array> | AsyncIterable<Float32Array>;
}

/** Records frames in memory as 16-bit PCM (half the size of float32; ~3.5 MB per call-minute). */
export class MemoryRecording implements RecordedAudio {
  readonly #chunks: Int16Array[] = [];

  /** Appends one frame (1920 samples). */
  push(pcm: Float32Array): void {
    const out = new Int16Array(pcm.length);
    for (let i = 0; i < pcm.length; i++) {
      const v = Math.max(-1, Math.min(1, pcm[i] ?? 0));
      out[i] = Math.round(v * 32767);
    }
    this.#chunks.push(out);
  }

  get frameCount(): number {
    return this.#chunks.length;
  }

  *frames(): Iterable<Float32Array> {
    for (const c of this.#chunks) {
      const f = new Float32Array(c.length);
      for (let i = 0; i < c.length; i++) {
        f[i] = (c[i] ?? 0) / 32767;
      }
      yield f;
    }
  }
}

interface DeferredOptions {
  readonly callId: string;
  /** Wall clock (epoch ms) of the call answer, for word wall times. */
  readonly answeredWallMs: number;
  /** Streaming speed relative to real time (default 2; moshi-server buffers what it cannot step). */
  readonly speed?: number;
  /** Poll period while waiting for a slot (default 2000 ms). */
  readonly retryMs?: number;
  /** Give up waiting for a slot after this long (default 10 minutes). */
  readonly maxWaitMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /**
   * Cancels the transcription (shutdown): the wait for a slot ends, an open stream is closed
   * without its flush, and the promise resolves to null (a cancel is not an error: nothing
   * rejects). The recording is not touched (the caller keeps it to transcribe later).
   */
  readonly signal?: AbortSignal;
  /** The stream opened on `server` (for the caller's gauges). */
  readonly onStreamOpen?: (server: string) => void;
}

/**
 * Waits for a slot, then streams `recording` and flushes.
 * @returns the transcript, or null when cancelled (`opts.signal`, or the pool stopped) before the
 *   flush completed.
 * @throws SttError `STT_ERR_NO_SERVER` when no slot freed up within `maxWaitMs`.
 */
export async function transcribeRecording(
  pool: SttPool,
  recording: RecordedAudio,
  opts: DeferredOptions,
  delegate: SttStreamDelegate,
): Promise<FinalTranscript | null> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? silentLogger;
  const speed = opts.speed ?? 2;
  const { signal } = opts;
  const cancelled = (): boolean => signal?.aborted === true || pool.stopped;
  // Resolves after `ms`, or at once when cancelled (the caller checks `cancelled()` after it).
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = clock.setTimeout(done, ms);
      function done(): void {
        clock.clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
  const deadline = clock.now() + (opts.maxWaitMs ?? 600_000);
  if (cancelled()) {
    return null;
  }
  let reservation = await pool.reserve();
  while (!reservation) {
    if (cancelled()) {
      return null;
    }
    if (clock.now() >= deadline) {
      throw new SttError(STT_ERR.NO_SERVER, `no STT slot freed up for deferred call ${opts.callId}`);
    }
    await sleep(opts.retryMs ?? 2000);
    if (cancelled()) {
      return null;
    }
    reservation = await pool.reserve();
  }
  if (cancelled()) {
    reservation.release();
    return null;
  }
  logger.info({ callId: opts.callId, server: reservation.server }, 'stt: deferred transcription started');
  const stream = pool.open(
    reservation,
    { callId: opts.callId, answeredWallMs: opts.answeredWallMs, speed },
    delegate,
  );
  opts.onStreamOpen?.(reservation.server);
  const onAbort = (): void => stream.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  // Every path that does not return the flushed transcript closes the stream (a no-op once closed).
  try {
    const live = (): boolean => stream.state !== 'closed' && stream.state !== 'failed';
    for await (const frame of recording.frames()) {
      if (cancelled()) {
        stream.close();
        return null;
      }
      if (frame.length !== FRAME_SAMPLES) {
        continue;
      }
      stream.pushFrame(frame);
      // Feed the pacer as it drains, so a long recording is never held twice in memory.
      while (stream.queuedFrames > 8 && live()) {
        await sleep(FRAME_MS / speed);
      }
    }
    while (stream.queuedFrames > 0 && live()) {
      await sleep(FRAME_MS / speed);
    }
    if (cancelled()) {
      stream.close();
      return null;
    }
    const final = await stream.flush();
    if (!final.complete && cancelled()) {
      // Cut before the flush completed: the transcript is not whole.
      return null;
    }
    return final;
  } catch (err) {
    stream.close();
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
