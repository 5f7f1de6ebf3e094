/**
 * Paces 1920-sample frames onto the wire in real time and keeps the stream from stalling.
 *
 * Frame k is due at `t0 + k · 80 ms / speed`. Frames pushed by the application are sent as soon
 * as they are at most `leadFrames` ahead of that schedule (a burst, e.g. a whole file, is released
 * in real time). When the application falls `fillAfterFrames` behind (packet loss, hold, silence
 * suppression, a stopped source), the pacer itself sends zero frames up to the present, so the
 * server never sees 20 s without a frame and the stream's timeline keeps following call time.
 *
 * A stream that opens behind call time (the audio kept while it opened) starts its schedule in
 * the past: the frames already due go out at once, then the stream runs at call time.
 *
 * Buffers: a pushed frame is borrowed. One that is due goes to the sink before `push` returns and
 * is not kept; only a frame that must wait for its time is copied, into the pacer's own queue.
 */
import type { Clock, TimerHandle } from '../../lib/clock.js';
import { FRAME_MS, FRAME_SAMPLES } from './protocol.js';

interface FramePacerOptions {
  /** Frames the application may run ahead of real time before they are queued (default 5). */
  readonly leadFrames?: number;
  /** Frames the application may lag before silence is inserted (default 3 = 240 ms). */
  readonly fillAfterFrames?: number;
  /** Playback speed (1 = real time; deferred transcription may go faster). */
  readonly speed?: number;
}

/** Receives each frame at its time; `filled` marks silence the pacer inserted. */
type FrameSink = (pcm: Float32Array, filled: boolean) => void;

const ZERO = new Float32Array(FRAME_SAMPLES);

export class FramePacer {
  readonly #clock: Clock;
  readonly #sink: FrameSink;
  readonly #lead: number;
  readonly #fill: number;
  readonly #periodMs: number;
  readonly #queue: Float32Array[] = [];
  #t0 = 0;
  #sent = 0;
  #filled = 0;
  #timer: TimerHandle | undefined;
  #running = false;
  /** The application is silent: zero frames go out one per period until it pushes again. */
  #filling = false;

  constructor(clock: Clock, opts: FramePacerOptions, sink: FrameSink) {
    this.#clock = clock;
    this.#sink = sink;
    this.#lead = opts.leadFrames ?? 5;
    this.#fill = opts.fillAfterFrames ?? 3;
    this.#periodMs = FRAME_MS / (opts.speed ?? 1);
  }

  /** Frames handed to the sink so far (application frames plus inserted silence). */
  get sent(): number {
    return this.#sent;
  }
  /** Zero frames the pacer inserted. */
  get filled(): number {
    return this.#filled;
  }
  /** Application frames waiting for their time. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Starts the schedule: frame 0 is due at `at` (default now; earlier when the stream starts
   * behind call time, and the frames queued before the start that are due go out at once).
   */
  start(at = this.#clock.now()): void {
    this.#t0 = at;
    this.#running = true;
    this.#pump();
  }

  /**
   * One frame of the application's audio, borrowed: sent before this returns when it is due,
   * else copied into the queue (the caller may reuse its buffer either way).
   */
  push(pcm: Float32Array): void {
    this.#filling = false;
    if (
      this.#running &&
      this.#queue.length === 0 &&
      this.#clock.now() >= this.#due(this.#sent - this.#lead)
    ) {
      this.#emit(pcm, false);
      this.#pump();
      return;
    }
    this.#queue.push(pcm.slice());
    if (this.#running) {
      this.#pump();
    }
  }

  /** Queues a frame the pacer may keep as it is (the caller hands it over, e.g. audio kept before the start). */
  pushOwned(pcm: Float32Array): void {
    this.#filling = false;
    this.#queue.push(pcm);
    if (this.#running) {
      this.#pump();
    }
  }

  /** Sends every queued frame at once (the flush) and stops pacing. */
  drainAndStop(): void {
    this.stop();
    for (const pcm of this.#queue.splice(0)) {
      this.#emit(pcm, false);
    }
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #due(k: number): number {
    return this.#t0 + k * this.#periodMs;
  }

  #emit(pcm: Float32Array, filled: boolean): void {
    this.#sent++;
    if (filled) {
      this.#filled++;
    }
    this.#sink(pcm, filled);
  }

  #pump(): void {
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const now = this.#clock.now();
    while (this.#running && this.#queue.length > 0 && now >= this.#due(this.#sent - this.#lead)) {
      this.#emit(this.#queue.shift() as Float32Array, false);
    }
    if (
      this.#running &&
      this.#queue.length === 0 &&
      (this.#filling || now >= this.#due(this.#sent + this.#fill))
    ) {
      // The application is behind: catch up to the present with silence, then one frame per period.
      this.#filling = true;
      while (this.#running && now >= this.#due(this.#sent)) {
        this.#emit(ZERO, true);
      }
    }
    if (!this.#running) {
      return;
    }
    const next =
      this.#queue.length > 0
        ? this.#due(this.#sent - this.#lead)
        : this.#due(this.#filling ? this.#sent : this.#sent + this.#fill);
    this.#timer = this.#clock.setTimeout(
      () => {
        this.#timer = undefined;
        this.#pump();
      },
      Math.max(0, next - now),
    );
  }
}
