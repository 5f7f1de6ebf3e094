import { Upsampler8to24 } from '../dsp/Upsampler8to24.js';
import type { FrameKind, JitterBuffer } from '../jitter/JitterBuffer.js';

/** Call time per tick, ms. */
const TICK_MS = 20;
/** Output samples per 20 ms tick at 24 kHz. */
const OUT_PER_TICK = 480;
/** Ticks per 80 ms frame. */
const TICKS_PER_FRAME = 4;
/** Samples per frame (80 ms at 24 kHz, the frame Kyutai's STT steps on). */
const FRAME_SAMPLES = OUT_PER_TICK * TICKS_PER_FRAME;

/**
 * The receive pipeline after the jitter buffer, one tick per 20 ms of call time: the jitter
 * buffer's frame (160 samples at 8 kHz, PLC inside, read where it was rendered) → polyphase
 * upsampler, writing its 480 samples straight into their place in the one 1920-sample 24 kHz
 * frame this pipeline owns → every fourth tick, the frame to `onFrame` with its call-time offset.
 * Nothing is copied between the stages and nothing is allocated per tick.
 */
export class MediaPipeline {
  readonly #jb: JitterBuffer;
  readonly #up = new Upsampler8to24();
  readonly #frame = new Float32Array(FRAME_SAMPLES);
  readonly #onFrame: (frame: Float32Array, offsetMs: number) => void;
  #ticks = 0;

  /**
   * @param onFrame receives each 80 ms frame (`offsetMs` = 80 × its index); the samples are valid
   *   only during the call (the buffer is written again by the next ticks): copy or serialise
   *   them before returning
   */
  constructor(jb: JitterBuffer, onFrame: (frame: Float32Array, offsetMs: number) => void) {
    this.#jb = jb;
    this.#onFrame = onFrame;
  }

  /** Produces 20 ms of output for call time `nowMs` (the tick's scheduled time). */
  tick(nowMs: number): FrameKind {
    const jb = this.#jb;
    const kind = jb.pull(nowMs);
    const slot = this.#ticks % TICKS_PER_FRAME;
    this.#up.process(jb.frame, this.#frame, slot * OUT_PER_TICK);
    this.#ticks++;
    if (slot === TICKS_PER_FRAME - 1) {
      this.#onFrame(this.#frame, (this.#ticks - TICKS_PER_FRAME) * TICK_MS);
    }
    return kind;
  }

  /** Ticks run so far (each is 20 ms of output). */
  get ticks(): number {
    return this.#ticks;
  }
}
