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

/**
 * Unwraps 16-bit sequence numbers into a monotonic extended number (cycles × 2^16 + seq), as the
 * RFC 3550 A.1 `cycles` counter does. Keeps the highest value seen; late packets get an extended
 * number below it.
 */
export class SeqUnwrapper {
  #highest = -1;

  /** Extended number of `seq`, relative to the highest seen so far (which it may advance). */
  unwrap(seq: number): number {
    if (this.#highest < 0) {
      this.#highest = seq;
      return seq;
    }
    const ext = this.#highest + seqDiff(this.#highest & 0xffff, seq);
    if (ext > this.#highest) {
      this.#highest = ext;
    }
    return ext;
  }

  /** Forgets the history (new source). */
  reset(): void {
    this.#highest = -1;
  }
}

/**
 * Unwraps 32-bit timestamps into a monotonic extended number relative to the highest seen
 * (exact in a double for ~ 2^53 samples, i.e. millennia at 8 kHz).
 */
export class TsUnwrapper {
  #highest = Number.NaN;

  unwrap(ts: number): number {
    if (Number.isNaN(this.#highest)) {
      this.#highest = ts >>> 0;
      return this.#highest;
    }
    const ext = tsNear(this.#highest, ts);
    if (ext > this.#highest) {
      this.#highest = ext;
    }
    return ext;
  }

  reset(): void {
    this.#highest = Number.NaN;
  }
}
