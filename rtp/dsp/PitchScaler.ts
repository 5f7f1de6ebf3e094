/**
 * Pitch-synchronous time-scaling of one output frame (the idea of WSOLA and of WebRTC NetEq's
 * accelerate / preemptive expand, written from their descriptions): to play faster, one pitch
 * period is removed; to play slower, one is inserted; the seam is a linear cross-fade between two
 * segments one period apart, which are nearly identical in voiced speech. The waveform's period,
 * so its pitch, is unchanged (linear resampling of a frame shifts the pitch by the rate change).
 *
 * The period is the lag (2.5–15 ms: 400–67 Hz) that maximises the normalised cross-correlation of
 * the first 10 ms with the 10 ms one lag later. The frame is adjusted only when that correlation is
 * at least {@link PitchScaler.THRESHOLD} (voiced or steady sound) or the signal is quiet (below
 * about −50 dBFS, where any cut is inaudible); otherwise it is copied unchanged and the caller tries
 * again on a later frame. Nothing is allocated per call.
 */
export class PitchScaler {
  /** Smallest normalised correlation at which a period is cut or repeated. */
  static readonly THRESHOLD = 0.8;
  /** Shortest period in samples. */
  readonly minPeriod: number;
  /** Longest period in samples. */
  readonly maxPeriod: number;
  /** Correlation window in samples. */
  readonly window: number;
  /** Mean square below which a segment counts as quiet (−50 dBFS). */
  readonly #quiet: number;
  /** Correlation of the last period found (1 for a quiet signal, 0 when none was searched). */
  lastCorrelation = 0;

  /** @param sampleRate in Hz (the periods and window scale with it) */
  constructor(sampleRate = 8000) {
    this.minPeriod = Math.round(sampleRate * 0.0025);
    this.maxPeriod = Math.round(sampleRate * 0.015);
    this.window = Math.round(sampleRate * 0.01);
    this.#quiet = (32768 * 10 ** (-50 / 20)) ** 2;
  }

  /**
   * Writes `frame` output samples from `frame + P` input samples: one period P (≤ `maxRemove`)
   * removed at the start of the frame, cross-faded over P samples. Output sample 0 is `src[0]` and
   * the last is `src[frame + P − 1]`, so consecutive frames join without a step.
   * @param src input, `avail` samples valid
   * @returns input samples consumed: `frame + P`, or `frame` when nothing suitable was found
   *   (then `out` is `src[0..frame)`)
   */
  shrink(src: Int16Array, avail: number, out: Int16Array, frame: number, maxRemove: number): number {
    const hi = Math.min(maxRemove, this.maxPeriod, avail - frame, avail - this.window);
    const p = this.#period(src, hi);
    if (p === 0) {
      out.set(src.subarray(0, frame));
      return frame;
    }
    for (let i = 0; i < p; i++) {
      out[i] = Math.round(((p - i) * src[i]! + i * src[i + p]!) / p);
    }
    out.set(src.subarray(2 * p, frame + p), p);
    return frame + p;
  }

  /**
   * Writes `frame` output samples from `frame − P` input samples: one period P (≤ `maxInsert`,
   * ≤ frame / 2) played twice, the repeat cross-faded in over P samples. Output sample 0 is
   * `src[0]` and the last is `src[frame − P − 1]`.
   * @returns input samples consumed: `frame − P`, or `frame` when nothing suitable was found
   */
  grow(src: Int16Array, avail: number, out: Int16Array, frame: number, maxInsert: number): number {
    const hi = Math.min(maxInsert, this.maxPeriod, Math.floor(frame / 2), avail - this.window);
    const p = this.#period(src, hi);
    if (p === 0) {
      out.set(src.subarray(0, frame));
      return frame;
    }
    out.set(src.subarray(0, p));
    for (let i = 0; i < p; i++) {
      out[p + i] = Math.round(((p - i) * src[p + i]! + i * src[i]!) / p);
    }
    out.set(src.subarray(p, frame - p), 2 * p);
    return frame - p;
  }

  /** The best period in [minPeriod, hi] if it is good enough, else 0. */
  #period(x: Int16Array, hi: number): number {
    this.lastCorrelation = 0;
    const lo = this.minPeriod;
    const w = this.window;
    if (hi < lo) {
      return 0;
    }
    let e0 = 0;
    for (let i = 0; i < w; i++) {
      e0 += x[i]! * x[i]!;
    }
    // Energy of x[lo .. lo + w), slid one sample per lag.
    let e1 = 0;
    for (let i = lo; i < lo + w; i++) {
      e1 += x[i]! * x[i]!;
    }
    let best = 0;
    let bestC = -1;
    let quietBest = 0;
    for (let p = lo; p <= hi; p++) {
      if (p > lo) {
        const out = x[p - 1]!;
        const inn = x[p + w - 1]!;
        e1 += inn * inn - out * out;
      }
      if (e0 < this.#quiet * w && e1 < this.#quiet * w) {
        // Quiet: any lag will do; take the longest (the delay moves most).
        quietBest = p;
        continue;
      }
      let c = 0;
      for (let i = 0; i < w; i++) {
        c += x[i]! * x[i + p]!;
      }
      const n = c / Math.sqrt(e0 * e1 || 1);
      if (n > bestC) {
        bestC = n;
        best = p;
      }
    }
    if (quietBest > 0 && bestC < PitchScaler.THRESHOLD) {
      this.lastCorrelation = 1;
      return quietBest;
    }
    this.lastCorrelation = Math.max(0, bestC);
    return bestC >= PitchScaler.THRESHOLD ? best : 0;
  }
}
