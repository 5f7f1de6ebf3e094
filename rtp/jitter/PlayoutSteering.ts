/**
 * How the jitter buffer moves its delay toward the target: each output frame of `frame` samples is
 * made from `frame ± step` input samples (`step` = a tenth of a frame), with hysteresis so that the
 * wobble of the percentile estimate does not make the audio wobble:
 *
 * - faster (`shrink`) once the delay is more than max(half a frame, target / 4) above the target,
 *   until it is back within the guard (an eighth of a frame: 2.5 ms at 20 ms) above it;
 * - slower (`grow`) once the delay is more than the guard below the target, until it reaches it;
 * - otherwise one frame per frame, so what arrived in time is played bit-exact.
 *
 * Each adjustment is at most the remaining error, so the delay lands on its band and does not
 * overshoot. All quantities are in samples.
 */
export class PlayoutSteering {
  readonly #frame: number;
  readonly #step: number;
  readonly #guard: number;
  #mode: 'steady' | 'shrink' | 'grow' = 'steady';

  /** @param frame samples per output frame */
  constructor(frame: number) {
    this.#frame = frame;
    this.#step = Math.max(1, Math.floor(frame / 10));
    this.#guard = frame / 8;
  }

  /**
   * Input samples to consume for the next output frame.
   * @param err current delay minus target delay
   * @param target target delay
   */
  next(err: number, target: number): number {
    const frame = this.#frame;
    const guard = this.#guard;
    if (this.#mode === 'shrink' ? err <= guard : this.#mode === 'grow' ? err >= 0 : false) {
      this.#mode = 'steady';
    }
    if (this.#mode === 'steady') {
      if (err > Math.max(frame / 2, target / 4)) {
        this.#mode = 'shrink';
      } else if (err < -guard) {
        this.#mode = 'grow';
      }
    }
    if (this.#mode === 'shrink') {
      return frame + Math.min(this.#step, Math.ceil(err));
    }
    if (this.#mode === 'grow') {
      return frame - Math.min(this.#step, Math.ceil(-err));
    }
    return frame;
  }
}

/**
 * Linear time-scaling of one frame: `out[0..frame)` from `src[0..n)`, first and last samples kept
 * (so there is no discontinuity at either end), linear interpolation in between. No allocation.
 */
export function timeScale(src: Int16Array, n: number, out: Int16Array, frame: number): void {
  const k = (n - 1) / (frame - 1);
  for (let i = 0; i < frame; i++) {
    const x = i * k;
    const j = Math.floor(x);
    const f = x - j;
    const a = src[j]!;
    out[i] = f === 0 ? a : Math.round(a + (src[j + 1]! - a) * f);
  }
}
