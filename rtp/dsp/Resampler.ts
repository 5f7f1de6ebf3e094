import { kaiser, kaiserBeta, sinc } from './kaiser.js';

/** Resampler design options; defaults suit speech recognition input. */
interface ResamplerOptions {
  /** Stopband attenuation, dB (Kaiser design). Default 90. */
  attenuationDb?: number;
  /**
   * Passband edge as a fraction of the lower rate's Nyquist frequency; the stopband starts at that
   * Nyquist frequency. Default 0.9 (e.g. 48 → 24 kHz: flat to 10.8 kHz, stop from 12 kHz).
   */
  passband?: number;
}

/** Phase tables larger than this are quantised (nearest of 4096 phases). */
const MAX_PHASES = 4096;

function gcd(a: number, b: number): number {
  while (b !== 0) {
    [a, b] = [b, a % b];
  }
  return a;
}

/**
 * Streaming resampler between arbitrary integer rates (16, 22.05, 44.1, 48 kHz → 24 kHz for
 * `transcribe`, and any other pair), float32 in and out.
 *
 * Design: rational polyphase FIR. The ratio out/in is reduced to L/M; the prototype is a
 * Kaiser-windowed sinc with its cut-off in the middle of the transition band
 * (`passband`·f_N … f_N, f_N = min(in, out)/2), its length from Kaiser's formula for
 * `attenuationDb`, and one row of 2·H taps per phase (each row normalised to unity DC gain). When L
 * exceeds 4096 (unusual rates), phases are rounded to the nearest of 4096 (timing error below
 * 1/8192 input sample).
 *
 * Timing: output sample j is the input at time j/out_rate, i.e. the output is aligned with the input
 * (no delay to compensate); an output is produced once the H input samples after it have arrived,
 * and {@link Resampler.flush} produces the rest at the end of the stream.
 */
export class Resampler {
  readonly inRate: number;
  readonly outRate: number;
  /** Interpolation factor (out/in = up/down, reduced). */
  readonly up: number;
  readonly down: number;
  /** Half-length of the filter in input samples (latency of the stream, in input samples). */
  readonly halfTaps: number;
  readonly #phases: number;
  readonly #table: Float64Array;
  #buf: Float64Array;
  /** Absolute input index of `#buf[0]`. */
  #bufStart: number;
  /** Samples held in `#buf`. */
  #bufLen: number;
  /** Next output index j. */
  #next = 0;

  /**
   * @throws RangeError on non-positive or non-integer rates, or options out of range.
   */
  constructor(inRate: number, outRate: number, options: ResamplerOptions = {}) {
    if (!(Number.isInteger(inRate) && inRate > 0 && Number.isInteger(outRate) && outRate > 0)) {
      throw new RangeError(`Resampler: rates must be positive integers, got ${inRate} → ${outRate}`);
    }
    const atten = options.attenuationDb ?? 90;
    const pass = options.passband ?? 0.9;
    if (!(atten >= 21 && atten <= 200) || !(pass > 0.5 && pass < 1)) {
      throw new RangeError(
        `Resampler: attenuationDb ${atten} (21…200) or passband ${pass} (0.5…1) out of range`,
      );
    }
    this.inRate = inRate;
    this.outRate = outRate;
    const g = gcd(inRate, outRate);
    this.up = outRate / g;
    this.down = inRate / g;
    // Cut-off relative to the input Nyquist; transition width relative to the input rate.
    const lower = Math.min(inRate, outRate);
    const cutoff = ((1 + pass) / 2) * (lower / inRate);
    const transition = ((1 - pass) * lower) / 2 / inRate;
    const taps = (atten - 8) / (2.285 * 2 * Math.PI * transition);
    const H = Math.max(2, Math.ceil(taps / 2));
    this.halfTaps = H;
    const beta = kaiserBeta(atten);
    const P = Math.min(this.up, MAX_PHASES);
    this.#phases = P;
    const width = 2 * H;
    this.#table = new Float64Array(P * width);
    for (let p = 0; p < P; p++) {
      const frac = p / P;
      let sum = 0;
      for (let k = 0; k < width; k++) {
        // Tap k applies to input base − H + 1 + k; the output lies at base + frac.
        const d = frac + H - 1 - k;
        const c = cutoff * sinc(cutoff * d) * kaiser(d, H, beta);
        this.#table[p * width + k] = c;
        sum += c;
      }
      for (let k = 0; k < width; k++) {
        this.#table[p * width + k]! /= sum;
      }
    }
    this.#buf = new Float64Array(width + 4096);
    // Inputs before the stream start are zeros: H − 1 of them are needed by the first outputs.
    this.#bufStart = -(H - 1);
    this.#bufLen = H - 1;
  }

  /**
   * An upper bound on the samples {@link Resampler.process} writes for `n` input samples, whatever
   * the stream state (`ceil((n + H) · up / down) + 2`): size destination buffers with it once.
   */
  maxOutput(n: number): number {
    return Math.ceil(((n + this.halfTaps) * this.up) / this.down) + 2;
  }

  /**
   * Consumes `src` and writes every output sample that is now complete into `dst` from index 0.
   * @returns the number of samples written.
   * @throws RangeError when `dst` is shorter than {@link Resampler.maxOutput}(src.length).
   */
  process(src: Float32Array, dst: Float32Array): number {
    const need = this.maxOutput(src.length);
    if (dst.length < need) {
      throw new RangeError(`Resampler: destination holds ${dst.length} samples, up to ${need} needed`);
    }
    this.#append(src);
    return this.#produce(dst);
  }

  /**
   * Ends the stream: feeds H zeros and writes the remaining outputs, up to the output sample that
   * corresponds to the end of the input (total output = ceil(inputs · out/in)).
   * @returns the number of samples written.
   */
  flush(dst: Float32Array): number {
    const end = this.#bufStart + this.#bufLen;
    const total = Math.ceil((end * this.up) / this.down);
    const zeros = new Float32Array(this.halfTaps);
    this.#append(zeros);
    const n = this.#produce(dst, total);
    return n;
  }

  #append(src: Float32Array): void {
    const H = this.halfTaps;
    // Drop history older than the next output needs.
    const base = Math.floor((this.#next * this.down) / this.up);
    const keepFrom = Math.max(this.#bufStart, base - H + 1);
    const drop = keepFrom - this.#bufStart;
    if (drop > 0) {
      this.#buf.copyWithin(0, drop, this.#bufLen);
      this.#bufLen -= drop;
      this.#bufStart = keepFrom;
    }
    if (this.#bufLen + src.length > this.#buf.length) {
      const bigger = new Float64Array(2 * (this.#bufLen + src.length));
      bigger.set(this.#buf.subarray(0, this.#bufLen));
      this.#buf = bigger;
    }
    for (let i = 0; i < src.length; i++) {
      this.#buf[this.#bufLen + i] = src[i]!;
    }
    this.#bufLen += src.length;
  }

  #produce(dst: Float32Array, limit = Infinity): number {
    const H = this.halfTaps;
    const width = 2 * H;
    const L = this.up;
    const M = this.down;
    const P = this.#phases;
    const table = this.#table;
    const buf = this.#buf;
    const last = this.#bufStart + this.#bufLen - 1;
    let o = 0;
    while (this.#next < limit && o < dst.length) {
      const j = this.#next;
      const pos = j * M;
      const base = Math.floor(pos / L);
      if (base + H > last) {
        break;
      }
      const phase = P === L ? pos - base * L : Math.round(((pos - base * L) * P) / L);
      let at = base - H + 1 - this.#bufStart;
      let acc = 0;
      if (phase === P) {
        // Rounded up to the next input sample: phase 0 of base + 1.
        at += 1;
        for (let k = 0; k < width; k++) {
          acc += table[k]! * buf[at + k]!;
        }
      } else {
        const row = phase * width;
        for (let k = 0; k < width; k++) {
          acc += table[row + k]! * buf[at + k]!;
        }
      }
      dst[o++] = acc > 1 ? 1 : acc < -1 ? -1 : acc;
      this.#next++;
    }
    return o;
  }
}

/**
 * One-shot conversion of a whole signal: `ceil(src.length · outRate / inRate)` samples, aligned with
 * the input (output j is the input at time j / outRate). Returns a copy of `src` when the rates match.
 */
export function resample(
  src: Float32Array,
  inRate: number,
  outRate: number,
  options?: ResamplerOptions,
): Float32Array {
  if (inRate === outRate) {
    return Float32Array.from(src);
  }
  const r = new Resampler(inRate, outRate, options);
  const out = new Float32Array(r.maxOutput(src.length) + r.maxOutput(r.halfTaps));
  let n = r.process(src, out);
  n += r.flush(out.subarray(n));
  return out.slice(0, n);
}
