/**
 * Packet loss concealment for G.711 (8 kHz int16), after ITU-T G.711 Appendix I (09/99):
 * "A high quality low-complexity algorithm for packet loss concealment with G.711".
 *
 * - Every good frame goes through {@link G711Plc.addGood}, which keeps a 48.75 ms history and
 *   returns the audio delayed by {@link G711Plc.DELAY} = 30 samples (3.75 ms), so the first
 *   concealed frame can overlap-add into the last quarter pitch period before it is output.
 * - On loss, {@link G711Plc.conceal} estimates the pitch (normalised cross-correlation over 20 ms,
 *   lags 40–120 samples = 66–200 Hz; coarse search on every second sample, then a fine one) and
 *   repeats the last pitch period, with a ¼-period overlap-add at the seam. The second and third
 *   10 ms of loss widen the repeated segment to 2 and 3 periods (less buzzy) with a cross-fade.
 *   From the second 10 ms on, the output is attenuated linearly by 20 % per 10 ms; after 60 ms it
 *   is silence.
 * - When good audio returns, the synthetic signal is cross-faded into it over 4 ms (+ 4 ms per
 *   further 10 ms lost, at most 10 ms), starting from the attenuation reached.
 *
 * Works on 10 ms (80-sample) sub-frames: buffers must hold a multiple of 80 samples (a 20 ms packet
 * is two). Nothing is allocated after construction. Differences from the Appendix I C code: float
 * → int16 conversions round instead of truncating; otherwise the same constants and steps.
 */
const FRAME = 80;
const PITCH_MIN = 40;
const PITCH_MAX = 120;
const PITCH_DIFF = PITCH_MAX - PITCH_MIN;
const OVERLAP_MAX = PITCH_MAX >> 2; // 30
const HISTORY = PITCH_MAX * 3 + OVERLAP_MAX; // 390
const NDEC = 2;
const CORR_LEN = 160;
const CORR_BUF = CORR_LEN + PITCH_MAX; // 280
const CORR_MIN_POWER = 250;
const END_OVERLAP_INCR = 32; // 4 ms per extra 10 ms lost
const ATTEN = 0.2; // per 10 ms
const ATTEN_INCR = ATTEN / FRAME;
/** Concealed 10 ms frames before the output is silence (60 ms). */
const MAX_CONCEALED = 6;

function toInt16(v: number): number {
  const r = Math.round(v);
  return r > 32767 ? 32767 : r < -32768 ? -32768 : r;
}

/** See the module comment. One instance per stream. */
export class G711Plc {
  /** Sub-frame size in samples (10 ms at 8 kHz): buffer lengths must be multiples of it. */
  static readonly FRAME = FRAME;
  /** Output delay in samples (3.75 ms at 8 kHz), the same for good and concealed audio. */
  static readonly DELAY = OVERLAP_MAX;

  readonly #history = new Int16Array(HISTORY);
  readonly #pitchBuf = new Float64Array(HISTORY);
  readonly #lastQ = new Float64Array(OVERLAP_MAX);
  readonly #frame = new Int16Array(FRAME);
  readonly #tail = new Int16Array(FRAME);
  #erased = 0;
  #pitch = 0;
  #pitchBlen = 0;
  #pitchStart = 0;
  #pOffset = 0;
  #pOverlap = 0;

  /**
   * Feeds received audio and writes it, delayed by {@link G711Plc.DELAY}, into `dst`. After a loss,
   * the start of `src` is cross-faded with the concealment.
   * @param src 8 kHz int16 audio; `n` samples from `from` are read (not modified; may be `dst`).
   * @param dst receives `n` samples from `at`.
   * @param n a multiple of 80 (default: the rest of `src`).
   * @returns the number of samples written.
   * @throws RangeError on a length that is not a multiple of 80 or a short `dst`.
   */
  addGood(src: Int16Array, dst: Int16Array, at = 0, from = 0, n = src.length - from): number {
    checkLengths('addGood', n, dst.length - at);
    const f = this.#frame;
    for (let off = 0; off < n; off += FRAME) {
      for (let i = 0; i < FRAME; i++) {
        f[i] = src[from + off + i]!;
      }
      if (this.#erased > 0) {
        this.#mergeAtEnd(f);
        this.#erased = 0;
      }
      this.#save(f, dst, at + off);
    }
    return n;
  }

  /**
   * Writes `n` samples (a multiple of 80) of concealment for lost audio into `dst` from `at`,
   * delayed like {@link G711Plc.addGood}'s output so the stream stays continuous.
   * @returns the number of samples written (`n`, by default the rest of `dst`).
   * @throws RangeError on a length that is not a multiple of 80.
   */
  conceal(dst: Int16Array, at = 0, n = dst.length - at): number {
    checkLengths('conceal', n, dst.length - at);
    const f = this.#frame;
    for (let off = 0; off < n; off += FRAME) {
      this.#concealFrame(f);
      this.#erased++;
      this.#save(f, dst, at + off);
    }
    return n;
  }

  /** True while the last frame was concealed (the next good frame will be merged). */
  get concealing(): boolean {
    return this.#erased > 0;
  }

  /** Consecutive 10 ms frames concealed so far in the current loss. */
  get erasedFrames(): number {
    return this.#erased;
  }

  /** The pitch period (samples) estimated at the start of the current or last loss. */
  get pitch(): number {
    return this.#pitch;
  }

  /** Back to the initial state: empty (silent) history. */
  reset(): void {
    this.#history.fill(0);
    this.#erased = 0;
    this.#pitch = 0;
  }

  /** Appendix I `dofe`: one 80-sample frame of concealment into `out`. */
  #concealFrame(out: Int16Array): void {
    const pb = this.#pitchBuf;
    if (this.#erased === 0) {
      for (let i = 0; i < HISTORY; i++) {
        pb[i] = this.#history[i]!;
      }
      this.#pitch = this.#findPitch();
      this.#pOverlap = this.#pitch >> 2;
      const ov = this.#pOverlap;
      for (let i = 0; i < ov; i++) {
        this.#lastQ[i] = pb[HISTORY - ov + i]!;
      }
      this.#pOffset = 0;
      this.#pitchBlen = this.#pitch;
      this.#pitchStart = HISTORY - this.#pitchBlen;
      this.#overlapAdd(this.#pitchStart - ov, HISTORY - ov, ov);
      // The last quarter period of the history now blends into the repetition: output it that way.
      for (let i = 0; i < ov; i++) {
        this.#history[HISTORY - ov + i] = toInt16(pb[HISTORY - ov + i]!);
      }
      this.#synth(out, 0, FRAME);
    } else if (this.#erased === 1 || this.#erased === 2) {
      const ov = this.#pOverlap;
      const tail = this.#tail;
      const saved = this.#pOffset;
      this.#synth(tail, 0, ov);
      this.#pOffset = saved;
      while (this.#pOffset > this.#pitch) {
        this.#pOffset -= this.#pitch;
      }
      this.#pitchBlen += this.#pitch;
      this.#pitchStart = HISTORY - this.#pitchBlen;
      this.#overlapAdd(this.#pitchStart - ov, HISTORY - ov, ov);
      this.#synth(out, 0, FRAME);
      // Cross-fade from the old segment's continuation into the widened one.
      const incr = 1 / ov;
      let lw = 1 - incr;
      let rw = incr;
      for (let i = 0; i < ov; i++) {
        out[i] = toInt16(lw * tail[i]! + rw * out[i]!);
        lw -= incr;
        rw += incr;
      }
      this.#scale(out);
    } else if (this.#erased >= MAX_CONCEALED) {
      out.fill(0);
    } else {
      this.#synth(out, 0, FRAME);
      this.#scale(out);
    }
  }

  /** Appendix I `addtohistory` merge: cross-fades the synthetic continuation into good frame `s`. */
  #mergeAtEnd(s: Int16Array): void {
    let len = this.#pOverlap + (this.#erased - 1) * END_OVERLAP_INCR;
    if (len > FRAME) {
      len = FRAME;
    }
    const syn = this.#tail;
    if (this.#erased >= MAX_CONCEALED) {
      syn.fill(0, 0, len);
    } else {
      this.#synth(syn, 0, len);
    }
    const incr = 1 / len;
    let gain = 1 - (this.#erased - 1) * ATTEN;
    if (gain < 0) {
      gain = 0;
    }
    const incrG = incr * gain;
    let lw = (1 - incr) * gain;
    let rw = incr;
    for (let i = 0; i < len; i++) {
      s[i] = toInt16(lw * syn[i]! + rw * s[i]!);
      lw -= incrG;
      rw += incr;
    }
  }

  /** Appendix I `savespeech`: shifts `s` into the history, writes the delayed frame to `dst[off…]`. */
  #save(s: Int16Array, dst: Int16Array, off: number): void {
    const h = this.#history;
    h.copyWithin(0, FRAME);
    h.set(s, HISTORY - FRAME);
    // NOTE: loops rather than subarray(): nothing is allocated per frame.
    const from = HISTORY - FRAME - OVERLAP_MAX;
    for (let i = 0; i < FRAME; i++) {
      dst[off + i] = h[from + i]!;
    }
  }

  /** Appendix I `getfespeech`: the next `n` samples of the repeated pitch segment. */
  #synth(out: Int16Array, at: number, n: number): void {
    const pb = this.#pitchBuf;
    if (this.#pitchBlen === 0) {
      out.fill(0, at, at + n);
      return;
    }
    while (n > 0) {
      let cnt = this.#pitchBlen - this.#pOffset;
      if (cnt > n) {
        cnt = n;
      }
      const from = this.#pitchStart + this.#pOffset;
      for (let i = 0; i < cnt; i++) {
        out[at + i] = toInt16(pb[from + i]!);
      }
      this.#pOffset += cnt;
      if (this.#pOffset === this.#pitchBlen) {
        this.#pOffset = 0;
      }
      at += cnt;
      n -= cnt;
    }
  }

  /** Linear attenuation: 20 % per 10 ms from the second concealed frame on. */
  #scale(out: Int16Array): void {
    let g = 1 - (this.#erased - 1) * ATTEN;
    for (let i = 0; i < FRAME; i++) {
      out[i] = toInt16(out[i]! * g);
      g -= ATTEN_INCR;
    }
  }

  /** Appendix I `overlapadd`: pitchBuf[o…] = fade(lastQ → pitchBuf[r…]) over `cnt` samples. */
  #overlapAdd(r: number, o: number, cnt: number): void {
    const pb = this.#pitchBuf;
    const l = this.#lastQ;
    const incr = 1 / cnt;
    let lw = 1 - incr;
    let rw = incr;
    for (let i = 0; i < cnt; i++) {
      let t = lw * l[i]! + rw * pb[r + i]!;
      t = t > 32767 ? 32767 : t < -32768 ? -32768 : t;
      pb[o + i] = t;
      lw -= incr;
      rw += incr;
    }
  }

  /** Appendix I `findpitch`: the lag (40–120) of highest normalised correlation over the last 20 ms. */
  #findPitch(): number {
    const pb = this.#pitchBuf;
    const l = HISTORY - CORR_LEN;
    let r = HISTORY - CORR_BUF;
    // Coarse search on every NDEC-th sample and lag.
    let energy = 0;
    let corr = 0;
    for (let i = 0; i < CORR_LEN; i += NDEC) {
      energy += pb[r + i]! * pb[r + i]!;
      corr += pb[r + i]! * pb[l + i]!;
    }
    let best = corr / Math.sqrt(Math.max(energy, CORR_MIN_POWER));
    let bestMatch = 0;
    for (let j = NDEC; j <= PITCH_DIFF; j += NDEC) {
      energy -= pb[r]! * pb[r]!;
      energy += pb[r + CORR_LEN]! * pb[r + CORR_LEN]!;
      r += NDEC;
      corr = 0;
      for (let i = 0; i < CORR_LEN; i += NDEC) {
        corr += pb[r + i]! * pb[l + i]!;
      }
      corr /= Math.sqrt(Math.max(energy, CORR_MIN_POWER));
      if (corr >= best) {
        best = corr;
        bestMatch = j;
      }
    }
    // Fine search around the coarse match, every sample.
    let j = Math.max(0, bestMatch - (NDEC - 1));
    const k = Math.min(PITCH_DIFF, bestMatch + (NDEC - 1));
    r = HISTORY - CORR_BUF + j;
    energy = 0;
    corr = 0;
    for (let i = 0; i < CORR_LEN; i++) {
      energy += pb[r + i]! * pb[r + i]!;
      corr += pb[r + i]! * pb[l + i]!;
    }
    best = corr / Math.sqrt(Math.max(energy, CORR_MIN_POWER));
    bestMatch = j;
    for (j++; j <= k; j++) {
      energy -= pb[r]! * pb[r]!;
      energy += pb[r + CORR_LEN]! * pb[r + CORR_LEN]!;
      r++;
      corr = 0;
      for (let i = 0; i < CORR_LEN; i++) {
        corr += pb[r + i]! * pb[l + i]!;
      }
      corr /= Math.sqrt(Math.max(energy, CORR_MIN_POWER));
      if (corr > best) {
        best = corr;
        bestMatch = j;
      }
    }
    return PITCH_MAX - bestMatch;
  }
}

function checkLengths(what: string, n: number, dstLen: number): number {
  if (n % FRAME !== 0) {
    throw new RangeError(`G711Plc.${what}: ${n} samples is not a multiple of ${FRAME} (10 ms)`);
  }
  if (dstLen < n) {
    throw new RangeError(`G711Plc.${what}: destination holds ${dstLen} samples, ${n} needed`);
  }
  return n;
}
