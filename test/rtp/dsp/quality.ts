/**
 * Measurement helpers for the resampler quality tests and bench/dsp.bench.ts: FFT band energies,
 * passband SNR against a reference, out-of-band energy, tone gain. Pure math, independent of rtp/.
 */
import { readFileSync } from 'node:fs';

/** In-place iterative radix-2 complex FFT; `re.length` must be a power of two. */
export function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) {
      j ^= bit;
    }
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k;
        const b = a + len / 2;
        const tr = re[b]! * cr - im[b]! * ci;
        const ti = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
        const ncr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = ncr;
      }
    }
  }
}

/** Power spectrum (|X|², bins 0..n/2) of `x` under a Hann window, zero-padded to a power of two. */
export function powerSpectrum(x: ArrayLike<number>): Float64Array {
  let n = 1;
  while (n < x.length) {
    n <<= 1;
  }
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const len = x.length;
  for (let i = 0; i < len; i++) {
    re[i] = x[i]! * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (len - 1)));
  }
  fft(re, im);
  const p = new Float64Array(n / 2 + 1);
  for (let k = 0; k <= n / 2; k++) {
    p[k] = re[k]! * re[k]! + im[k]! * im[k]!;
  }
  return p;
}

/** Sum of the power spectrum `p` (of a signal at `rate` Hz) over lo ≤ f ≤ hi. */
export function bandEnergy(p: Float64Array, rate: number, lo: number, hi: number): number {
  const binHz = rate / 2 / (p.length - 1);
  let e = 0;
  for (let k = Math.ceil(lo / binHz); k < p.length && k * binHz <= hi; k++) {
    e += p[k]!;
  }
  return e;
}

const db = (ratio: number): number => 10 * Math.log10(ratio);

/** Quality figures of a 24 kHz output against a reference, both already aligned. */
export interface Quality {
  /** Passband (≤ 3.4 kHz) SNR of `out` against `ref`, dB. */
  snrDb: number;
  /** Energy of `out` above 4.6 kHz relative to its total energy, dB. */
  stopbandDb: number;
  /** Max − min of the band gain out/ref over 200 Hz bands from 100 Hz to 3.4 kHz, dB. */
  bandRippleDb: number;
}

/** Measures `out` against `ref` (same rate, aligned, same length). */
export function measure(out: ArrayLike<number>, ref: ArrayLike<number>, rate = 24000): Quality {
  const n = Math.min(out.length, ref.length);
  const err = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    err[i] = out[i]! - ref[i]!;
  }
  const pRef = powerSpectrum(Array.prototype.slice.call(ref, 0, n) as number[]);
  const pOut = powerSpectrum(Array.prototype.slice.call(out, 0, n) as number[]);
  const pErr = powerSpectrum(err);
  const snrDb = db(bandEnergy(pRef, rate, 0, 3400) / bandEnergy(pErr, rate, 0, 3400));
  const stopbandDb = db(bandEnergy(pOut, rate, 4600, rate / 2) / bandEnergy(pOut, rate, 0, rate / 2));
  let lo = Infinity;
  let hi = -Infinity;
  for (let f = 100; f + 200 <= 3400; f += 200) {
    const eRef = bandEnergy(pRef, rate, f, f + 200);
    if (eRef === 0) {
      continue;
    }
    const g = db(bandEnergy(pOut, rate, f, f + 200) / eRef);
    lo = Math.min(lo, g);
    hi = Math.max(hi, g);
  }
  return { snrDb, stopbandDb, bandRippleDb: hi - lo };
}

/** Gain (dB) of a steady tone: amplitude of `y` at `freq` (least-squares fit over whole periods). */
export function toneGainDb(
  y: ArrayLike<number>,
  start: number,
  len: number,
  freq: number,
  rate: number,
  amp: number,
): number {
  let c = 0;
  let s = 0;
  for (let i = 0; i < len; i++) {
    const w = (2 * Math.PI * freq * (start + i)) / rate;
    c += y[start + i]! * Math.cos(w);
    s += y[start + i]! * Math.sin(w);
  }
  return 20 * Math.log10((2 * Math.hypot(c, s)) / len / amp);
}

/** A raw little-endian float32 file as a Float32Array. */
export function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  const out = new Float32Array(b.length / 4);
  for (let i = 0; i < out.length; i++) {
    out[i] = b.readFloatLE(4 * i);
  }
  return out;
}

/** The PCM16 samples of a canonical 44-byte-header mono WAV (test input only; rtp/wav.ts is the product reader). */
export function readPcm16Wav(path: string): Int16Array {
  const b = readFileSync(path);
  let p = 12;
  while (p + 8 <= b.length) {
    const id = b.toString('ascii', p, p + 4);
    const size = b.readUInt32LE(p + 4);
    if (id === 'data') {
      const out = new Int16Array(size / 2);
      for (let i = 0; i < out.length; i++) {
        out[i] = b.readInt16LE(p + 8 + 2 * i);
      }
      return out;
    }
    p += 8 + size + (size & 1);
  }
  throw new Error(`no data chunk in ${path}`);
}

/**
 * The tutorial bridge's upsampler: linear interpolation between neighbouring 8 kHz samples
 * (here streamed across packets, its best case). Output j is the input at (j − 3)/24000 s.
 */
export function linearUpsample(src: Int16Array): Float32Array {
  const out = new Float32Array(src.length * 3);
  let prev = 0;
  for (let i = 0; i < src.length; i++) {
    const x = src[i]!;
    for (let k = 0; k < 3; k++) {
      out[3 * i + k] = (prev + ((x - prev) * k) / 3) / 32768;
    }
    prev = x;
  }
  return out;
}
/** Group delay of {@link linearUpsample}, output samples. */
export const LINEAR_DELAY = 3;
