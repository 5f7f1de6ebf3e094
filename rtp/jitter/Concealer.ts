/**
 * Packet loss concealment as the jitter buffer drives it (the shape of ITU-T G.711 Appendix I, and
 * of `G711Plc` in rtp/dsp): the buffer renders its timeline in blocks of {@link PLC_BLOCK} samples,
 * every block goes through exactly one of the two calls, in order, and what they write is the
 * output (a PLC may delay it by a constant number of samples).
 */
export interface Concealer {
  /**
   * A received block, `n` samples of `src` from `from` (default: all of it): writes the (possibly
   * delayed and cross-faded) output into `dst` from `at`.
   */
  addGood(src: Int16Array, dst: Int16Array, at?: number, from?: number, n?: number): number;
  /** A lost block: writes `n` samples of a synthetic continuation (fading to silence) into `dst` from `at`. */
  conceal(dst: Int16Array, at?: number, n?: number): number;
  /** Forgets history. */
  reset(): void;
}

/** Samples per concealment block (10 ms at 8 kHz, the G.711 Appendix I frame). */
export const PLC_BLOCK = 80;

/** No concealment: lost blocks become silence. The fallback when no PLC is given. */
export const silenceConcealer: Concealer = {
  addGood: (src, dst, at = 0, from = 0, n = src.length - from) => {
    for (let i = 0; i < n; i++) {
      dst[at + i] = src[from + i]!;
    }
    return n;
  },
  conceal: (dst, at = 0, n = dst.length - at) => {
    dst.fill(0, at, at + n);
    return n;
  },
  reset: () => undefined,
};
