/** One fixed-size block of the continuous output stream. */
export interface AudioFrame {
  /** The samples (length {@link FramerOptions.frameSize}). Owned by the receiver until released. */
  readonly samples: Float32Array;
  /** 0, 1, 2, … in stream order. */
  readonly index: number;
  /** Stream position of `samples[0]`, in samples since the stream start (sample-exact). */
  readonly startSample: number;
  /** Stream position of `samples[0]` in ms since the stream start (`startSample · 1000 / rate`). */
  readonly offsetMs: number;
}

/** Framer configuration; every field has a default. */
interface FramerOptions {
  /** Samples per frame. Default 1920 (80 ms at 24 kHz, the frame Kyutai's STT steps on). */
  frameSize?: number;
  /** Sample rate of the stream, Hz. Default 24000. */
  sampleRate?: number;
  /** Stream position of the first sample pushed, in samples (e.g. when joining late). Default 0. */
  startSample?: number;
  /** Free buffers allocated up front. Default 4. */
  poolSize?: number;
}

/** Counters, for tests and metrics. */
interface FramerStats {
  /** Frames emitted. */
  frames: number;
  /** Frame buffers allocated since construction (pool included): stays flat when frames are released. */
  allocated: number;
  /** Samples accepted. */
  samples: number;
}

/**
 * Cuts a continuous sample stream (e.g. 480 samples per 20 ms packet at 24 kHz) into exact
 * fixed-size frames (1920 samples = 80 ms) stamped with their stream offset.
 *
 * Ownership: each emitted {@link AudioFrame} belongs to the `onFrame` receiver. When it is done with
 * the samples (e.g. after serialising them onto the WebSocket), it calls {@link Framer.release} to
 * return the buffer to the pool; in steady state nothing is allocated. A frame that is never released
 * is simply left to the garbage collector and the framer allocates a fresh buffer next time
 * (counted in {@link FramerStats.allocated}).
 */
export class Framer {
  readonly frameSize: number;
  readonly sampleRate: number;
  readonly #onFrame: (frame: AudioFrame) => void;
  readonly #pool: Float32Array[] = [];
  #current: Float32Array;
  #fill = 0;
  #index = 0;
  #nextStart: number;
  readonly #stats: FramerStats = { frames: 0, allocated: 0, samples: 0 };

  /**
   * @param onFrame receives every complete frame, synchronously from {@link Framer.push}.
   * @throws RangeError on a non-positive frame size, sample rate or negative start.
   */
  constructor(onFrame: (frame: AudioFrame) => void, options: FramerOptions = {}) {
    const o = {
      frameSize: options.frameSize ?? 1920,
      sampleRate: options.sampleRate ?? 24000,
      startSample: options.startSample ?? 0,
      poolSize: options.poolSize ?? 4,
    };
    if (!(Number.isInteger(o.frameSize) && o.frameSize > 0)) {
      throw new RangeError(`Framer: frameSize must be a positive integer, got ${o.frameSize}`);
    }
    if (!(o.sampleRate > 0)) {
      throw new RangeError(`Framer: sampleRate must be positive, got ${o.sampleRate}`);
    }
    if (!(Number.isInteger(o.startSample) && o.startSample >= 0)) {
      throw new RangeError(`Framer: startSample must be a non-negative integer, got ${o.startSample}`);
    }
    this.frameSize = o.frameSize;
    this.sampleRate = o.sampleRate;
    this.#onFrame = onFrame;
    this.#nextStart = o.startSample;
    for (let i = 0; i < o.poolSize; i++) {
      this.#pool.push(this.#alloc());
    }
    this.#current = this.#take();
  }

  /** Appends samples; emits every frame that becomes complete, in order. Any length is accepted. */
  push(src: Float32Array): void {
    let i = 0;
    const n = src.length;
    this.#stats.samples += n;
    while (i < n) {
      const take = Math.min(this.frameSize - this.#fill, n - i);
      // NOTE: a plain loop, not set(subarray()): no view object allocated per packet.
      const cur = this.#current;
      const at = this.#fill;
      for (let k = 0; k < take; k++) {
        cur[at + k] = src[i + k]!;
      }
      this.#fill += take;
      i += take;
      if (this.#fill === this.frameSize) {
        this.#emit();
      }
    }
  }

  /**
   * Emits the partial frame, if any, padded with zeros to a full frame (end of stream).
   * @returns true when a frame was emitted.
   */
  flush(): boolean {
    if (this.#fill === 0) {
      return false;
    }
    this.#current.fill(0, this.#fill);
    this.#fill = this.frameSize;
    this.#emit();
    return true;
  }

  /**
   * Returns a frame's buffer to the pool. Call once per frame, after the last use of its samples.
   * @throws RangeError when the buffer has the wrong size (not one of this framer's frames).
   */
  release(frame: AudioFrame): void {
    if (frame.samples.length !== this.frameSize) {
      throw new RangeError(
        `Framer.release: frame of ${frame.samples.length} samples, expected ${this.frameSize}`,
      );
    }
    if (frame.samples !== this.#current && !this.#pool.includes(frame.samples)) {
      this.#pool.push(frame.samples);
    }
  }

  /** Samples waiting in the partial frame. */
  get pending(): number {
    return this.#fill;
  }

  /** Stream position (samples) of the next frame to be emitted. */
  get nextStartSample(): number {
    return this.#nextStart;
  }

  stats(): Readonly<FramerStats> {
    return { ...this.#stats };
  }

  #emit(): void {
    const start = this.#nextStart;
    const frame: AudioFrame = {
      samples: this.#current,
      index: this.#index++,
      startSample: start,
      offsetMs: (start * 1000) / this.sampleRate,
    };
    this.#nextStart = start + this.frameSize;
    this.#stats.frames++;
    this.#current = this.#take();
    this.#fill = 0;
    this.#onFrame(frame);
  }

  #take(): Float32Array {
    return this.#pool.pop() ?? this.#alloc();
  }

  #alloc(): Float32Array {
    this.#stats.allocated++;
    return new Float32Array(this.frameSize);
  }
}
