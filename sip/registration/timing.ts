/**
 * Pure timing rules of the registration client; `random` is injected so tests are exact.
 */

/** Backoff policy while the registrar fails or is unreachable. */
export interface BackoffPolicy {
  /** Wait after the first failure, before jitter (default 2 s). */
  readonly baseMs: number;
  /** Upper bound of the wait (default 60 s: a missed registration means missed calls). */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 2_000, maxMs: 60_000 };

/**
 * Wait before attempt number `failures + 1`: `min(max, base · 2^(failures−1))`, then a uniformly
 * random point in its upper half (RFC 5626 §4.5 uses the same "50 %–100 %" jitter), so that many
 * clients that lost the same registrar do not come back in step.
 *
 * @param failures consecutive failures so far (≥ 1)
 * @param random a number in [0, 1)
 */
export function backoffDelayMs(failures: number, policy: BackoffPolicy, random: number): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));

  return Math.round(exp / 2 + (exp / 2) * random);
}

/**
 * When to refresh a binding granted for `grantedS` seconds: 32 s (one UDP Timer F) before it
 * expires, but never earlier than half-way (short registrations).
 */
export function refreshDelayMs(grantedS: number): number {
  return Math.round(Math.max(grantedS / 2, grantedS - 32) * 1000);
}
