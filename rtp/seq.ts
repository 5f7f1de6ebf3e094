/**
 * Serial-number arithmetic for RTP sequence numbers (16 bit) and timestamps (32 bit), in one place.
 * Comparisons follow RFC 1982 serial-number arithmetic: `a` is "before" `b` when the forward
 * distance from `a` to `b` is less than half the number space.
 *
 * @see RFC 3550 §5.1, A.1 (sequence numbers wrap at 2^16, timestamps at 2^32)
 */

/** `(a + n) mod 2^16`. */
export function seqAdd(a: number, n: number): number {
  return (a + n) & 0xffff;
}

/**
 * Signed distance from `a` to `b` in the 16-bit space, in [-32768, 32767]:
 * `seqDiff(0xffff, 0) === 1`, `seqDiff(0, 0xffff) === -1`.
 */
export function seqDiff(a: number, b: number): number {
  return (((b - a) & 0xffff) << 16) >> 16;
}

/** True when `a` comes strictly before `b` (with wrap). */
export function seqLt(a: number, b: number): boolean {
  return seqDiff(a, b) > 0;
}

/** True when `a` comes strictly after `b` (with wrap). */
export function seqGt(a: number, b: number): boolean {
  return seqDiff(a, b) < 0;
}

/** `(a + n) mod 2^32`, as an unsigned number. */
export function tsAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/**
 * Signed distance from `a` to `b` in the 32-bit space, in [-2^31, 2^31 - 1]:
 * `tsDiff(0xffffffff, 0) === 1`.
 */
export function tsDiff(a: number, b: number): number {
  return (b - a) | 0;
}

/**
 * The extended (unwrapped) value of timestamp `ts` nearest to the extended reference `ref`:
 * `tsNear(0xffffff60, 0x60) === 0x100000060`, `tsNear(0x100000060, 0xffffff60) === 0xffffff60`.
 */
export function tsNear(ref: number, ts: number): number {
  return ref + tsDiff(ref % 0x100000000, ts >>> 0);
}

/** True when timestamp `a` comes strictly before `b` (with wrap). */
export function tsLt(a: number, b: number): boolean {
  return tsDiff(a, b) > 0;
}
