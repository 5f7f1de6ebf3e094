/**
 * Kaiser-windowed sinc design helpers shared by the resamplers.
 *
 * @see J. F. Kaiser, "Nonrecursive digital filter design using the I0-sinh window function", 1974;
 * A. V. Oppenheim, R. W. Schafer, Discrete-Time Signal Processing, §7.5.3.
 */

/** Modified Bessel function of the first kind, order 0 (power series; converges fast for x ≤ 20). */
export function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x / 2) * (x / 2);
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < 1e-17 * sum) {
      break;
    }
  }
  return sum;
}

/**
 * The Kaiser window at offset `t` from its centre, for a window reaching ±`halfWidth`
 * (zero outside).
 */
export function kaiser(t: number, halfWidth: number, beta: number): number {
  const r = t / halfWidth;
  if (r <= -1 || r >= 1) {
    return 0;
  }
  return besselI0(beta * Math.sqrt(1 - r * r)) / besselI0(beta);
}

/** sin(πx)/(πx), 1 at 0. */
export function sinc(x: number): number {
  if (x === 0) {
    return 1;
  }
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

/**
 * Kaiser's empirical β for a stopband attenuation of `db` decibels (Oppenheim & Schafer eq. 7.62).
 */
export function kaiserBeta(db: number): number {
  if (db > 50) {
    return 0.1102 * (db - 8.7);
  }
  if (db >= 21) {
    return 0.5842 * Math.pow(db - 21, 0.4) + 0.07886 * (db - 21);
  }
  return 0;
}
