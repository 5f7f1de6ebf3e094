/**
 * How the jitter buffer moves its delay toward the target, frame by frame, with hysteresis so that
 * the wobble of the percentile estimate does not make the audio wobble:
 *
 * - faster (`shrink`) once the delay is more than max(half a frame, target / 4) above the target,
 *   until it is back within the guard (an eighth of a frame: 2.5 ms at 20 ms) above it;
 * - slower (`grow`) once the delay is more than the guard below the target, until it reaches it;
 * - otherwise one frame per frame, so what arrived in time is played bit-exact.
 *
 * The change itself is made by the time-scaler (`PitchScaler`: a whole pitch period removed or
 * inserted at a time). The steering only budgets it: while shrinking, `shrinkRate` × frame samples of
 * credit per frame (10 % → 2 ms per 20 ms: at most 10 % faster on average), while growing
 * `growRate` × frame; a frame may remove or insert up to the credit, and never more than the
 * remaining error, so the delay lands on its band. All quantities are in samples.
 */
export class PlayoutSteering {
  readonly #frame: number;
  readonly #guard: number;
  readonly #shrinkStep: number;
  readonly #growStep: number;
  #mode: 'steady' | 'shrink' | 'grow' = 'steady';
  #credit = 0;

  /**
   * @param frame samples per output frame
   * @param shrinkRate largest average speed-up while shrinking (0.1: 10 % faster)
   * @param growRate largest average slow-down while growing
   */
  constructor(frame: number, shrinkRate = 0.1, growRate = 0.1) {
    this.#frame = frame;
    this.#guard = frame / 8;
    this.#shrinkStep = frame * shrinkRate;
    this.#growStep = frame * growRate;
  }

  /**
   * Samples the next frame may remove (> 0) or must insert (< 0); 0: play it as is.
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
      this.#credit = 0;
      if (err > Math.max(frame / 2, target / 4)) {
        this.#mode = 'shrink';
      } else if (err < -guard) {
        this.#mode = 'grow';
      }
    }
    if (this.#mode === 'shrink') {
      this.#credit = Math.min(frame, this.#credit + this.#shrinkStep);
      return Math.floor(Math.min(this.#credit, err));
    }
    if (this.#mode === 'grow') {
      this.#credit = Math.min(frame, this.#credit + this.#growStep);
      return -Math.floor(Math.min(this.#credit, -err));
    }
    return 0;
  }

  /** What the frame did: samples removed (> 0) or inserted (< 0); spent from the credit. */
  done(adjusted: number): void {
    this.#credit = Math.max(0, this.#credit - Math.abs(adjusted));
  }
}
