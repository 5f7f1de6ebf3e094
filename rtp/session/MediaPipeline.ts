import { Framer, type AudioFrame } from '../dsp/Framer.js';
import { Upsampler8to24 } from '../dsp/Upsampler8to24.js';
import type { FrameKind, JitterBuffer } from '../jitter/JitterBuffer.js';

/** Output samples per 20 ms tick at 24 kHz. */
const OUT_PER_TICK = 480;

/**
 * The receive pipeline after the jitter buffer, one tick per 20 ms of call time: jitter buffer
 * (with PLC) → 160 samples at 8 kHz → polyphase upsampler → 480 samples at 24 kHz → framer →
 * 1920-sample frames stamped with their call-time offset. Nothing is allocated per tick.
 */
export class MediaPipeline {
  readonly #jb: JitterBuffer;
  readonly #pcm = new Int16Array(160);
  readonly #up = new Upsampler8to24();
  readonly #f32 = new Float32Array(OUT_PER_TICK);
  readonly #framer: Framer;
  #ticks = 0;

  /**
   * @param onFrame receives each 80 ms frame; the samples are valid only during the call (the
   *   buffer is reused afterwards): copy or serialise them before returning
   */
  constructor(jb: JitterBuffer, onFrame: (frame: Float32Array, offsetMs: number) => void) {
    this.#jb = jb;
    this.#framer = new Framer((frame: AudioFrame) => {
      try {
        onFrame(frame.samples, frame.offsetMs);
      } finally {
        this.#framer.release(frame);
      }
    });
  }

  /** Produces 20 ms of output for call time `nowMs` (the tick's scheduled time). */
  tick(nowMs: number): FrameKind {
    const kind = this.#jb.pull(this.#pcm, nowMs);
    this.#up.process(this.#pcm, this.#f32, 0);
    this.#ticks++;
    this.#framer.push(this.#f32);
    return kind;
  }

  /** Ticks run so far (each is 20 ms of output). */
  get ticks(): number {
    return this.#ticks;
  }
}
