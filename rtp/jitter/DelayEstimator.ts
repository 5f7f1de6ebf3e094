/** Transits kept for the percentiles (about 2.5 s of 20 ms packets). */
const RING = 128;

/**
 * The jitter buffer's view of the network: from each packet's transit (arrival − timeline
 * position, in samples) over the last 128 packets, a `base` (the 10th percentile, so one early
 * packet does not shift it), the `jitter` (95th percentile − base), and the target delay
 * `jitter + frame + frame / 4` clamped to [min, max]: one frame for the pull phase, a quarter frame
 * of guard for drift within the window and the hysteresis below the target. Recomputed on each of
 * the first 16 packets, then every 8 (a sort of ≤ 128 numbers, no allocation).
 */
export class DelayEstimator {
  readonly #frame: number;
  readonly #min: number;
  readonly #max: number;
  readonly #transits = new Float64Array(RING);
  readonly #sorted = new Float64Array(RING);
  #count = 0;
  /** 10th percentile of the transits, in samples. */
  base = Number.POSITIVE_INFINITY;
  /** 95th percentile minus base, in samples. */
  jitter = 0;
  /** Target delay above base, in samples. */
  target: number;

  /** All in samples. */
  constructor(frame: number, minDelay: number, maxDelay: number) {
    this.#frame = frame;
    this.#min = minDelay;
    this.#max = maxDelay;
    this.target = Math.max(minDelay, frame + frame / 4);
  }

  /** Forgets the transits (new timeline), starting from `base`. */
  reset(base: number): void {
    this.#count = 0;
    this.base = base;
  }

  /**
   * Moves every kept transit (and the base) by `d`: the timeline was moved by −d on purpose (a
   * talkspurt started earlier or later), the network did not change.
   */
  shift(d: number): void {
    const n = Math.min(this.#count, RING);
    for (let i = 0; i < n; i++) {
      this.#transits[i] = this.#transits[i]! + d;
    }
    this.base += d;
  }

  add(transit: number): void {
    this.#transits[this.#count % RING] = transit;
    this.#count++;
    if (this.#count <= 16 || this.#count % 8 === 0) {
      const n = Math.min(this.#count, RING);
      const s = this.#sorted.subarray(0, n);
      s.set(this.#transits.subarray(0, n));
      s.sort();
      this.base = s[Math.floor(0.1 * (n - 1))]!;
      this.jitter = s[Math.floor(0.95 * (n - 1))]! - this.base;
      this.target = Math.min(this.#max, Math.max(this.#min, this.jitter + this.#frame + this.#frame / 4));
    }
  }
}
