/**
 * Pitch measurement and the two time-scaling drivers the PitchScaler tests and bench/media.bench.ts
 * compare. Independent of rtp/ except for the scaler under test, which is passed in.
 */

/**
 * Fundamental frequency (Hz) of a signal by autocorrelation over the whole signal: the lag in
 * [rate/maxHz, rate/minHz] with the largest mean product x[i]·x[i+lag], refined by a parabola
 * through its neighbours.
 */
export function autocorrPitch(x: ArrayLike<number>, rate = 8000, minHz = 70, maxHz = 400): number {
  const lo = Math.floor(rate / maxHz);
  const hi = Math.ceil(rate / minHz);
  const r = new Float64Array(hi + 2);
  for (let lag = lo - 1; lag <= hi + 1; lag++) {
    let s = 0;
    for (let i = 0; i + lag < x.length; i++) {
      s += x[i]! * x[i + lag]!;
    }
    r[lag] = s / (x.length - lag);
  }
  let best = lo;
  for (let lag = lo; lag <= hi; lag++) {
    if (r[lag]! > r[best]!) {
      best = lag;
    }
  }
  const a = r[best - 1]!;
  const b = r[best]!;
  const c = r[best + 1]!;
  const d = a - 2 * b + c;
  const frac = d === 0 ? 0 : (0.5 * (a - c)) / d;
  return rate / (best + frac);
}

/** A voiced-like tone: `f0` Hz with harmonics 1–5 falling 6 dB per octave, peak ≈ 12000. */
export function harmonicTone(f0: number, seconds: number, rate = 8000): Int16Array {
  const n = Math.round(seconds * rate);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    let v = 0;
    for (let h = 1; h <= 5; h++) {
      v += Math.sin((2 * Math.PI * f0 * h * i) / rate + h) / h;
    }
    out[i] = Math.round(5000 * v);
  }
  return out;
}

/** One frame of the pre-issue-11 linear time-scaling: `out[0..frame)` from `src[0..n)`, ends kept. */
export function linearFrame(src: Int16Array, n: number, out: Int16Array, frame: number): void {
  const k = (n - 1) / (frame - 1);
  for (let i = 0; i < frame; i++) {
    const x = i * k;
    const j = Math.floor(x);
    const f = x - j;
    const a = src[j]!;
    out[i] = f === 0 ? a : Math.round(a + ((src[j + 1] ?? a) - a) * f);
  }
}

/** What a frame-by-frame scaler does: `frame` output samples from `src`, returns samples consumed. */
export type FrameScaler = (
  src: Int16Array,
  avail: number,
  out: Int16Array,
  frame: number,
  budget: number,
) => number;

/**
 * Plays `x` `percent` % faster (> 0) or slower (< 0) in 20 ms frames, with a credit of
 * |percent| % of a frame per frame as the jitter buffer's steering gives; returns the output.
 */
export function scaleSignal(x: Int16Array, percent: number, scaler: FrameScaler, frame = 160): Int16Array {
  const out: number[] = [];
  const buf = new Int16Array(frame);
  let pos = 0;
  let credit = 0;
  while (pos + 2 * frame + 200 < x.length) {
    credit = Math.min(frame, credit + (Math.abs(percent) / 100) * frame);
    const src = x.subarray(pos);
    const used = scaler(src, src.length, buf, frame, percent > 0 ? Math.floor(credit) : -Math.floor(credit));
    credit -= Math.abs(used - frame);
    pos += used;
    out.push(...buf);
  }
  return Int16Array.from(out);
}

/** The linear method as a {@link FrameScaler}: ±10 % of a frame at most, as it was. */
export const linearScaler: FrameScaler = (src, _avail, out, frame, budget) => {
  const step = Math.max(-frame / 10, Math.min(frame / 10, budget));
  const n = frame + Math.trunc(step);
  linearFrame(src, n, out, frame);
  return n;
};
