import { describe, expect, it } from 'vitest';
import { PitchScaler } from '../../../rtp/dsp/PitchScaler.js';
import { rng } from '../rng.js';
import { autocorrPitch, harmonicTone, linearScaler, scaleSignal, type FrameScaler } from './pitch.js';

const scaler = new PitchScaler(8000);
const pitchScaler: FrameScaler = (src, avail, out, frame, budget) =>
  budget > 0 ? scaler.shrink(src, avail, out, frame, budget) : scaler.grow(src, avail, out, frame, -budget);

describe('PitchScaler', () => {
  it('searches periods of 2.5–15 ms over a 10 ms window at 8 kHz (20–120 samples, 80)', () => {
    expect([scaler.minPeriod, scaler.maxPeriod, scaler.window]).toEqual([20, 120, 80]);
  });

  it('removes exactly one period of a 125 Hz tone (64 samples): the output is the tone itself', () => {
    const x = harmonicTone(125, 0.1);
    const out = new Int16Array(160);
    expect(scaler.shrink(x, x.length, out, 160, 120)).toBe(160 + 64);
    expect(scaler.lastCorrelation).toBeGreaterThan(0.999);
    // x[i + 64] = x[i] (up to rounding): cutting a period leaves the waveform as it was.
    for (let i = 0; i < 160; i++) {
      expect(Math.abs(out[i]! - x[i]!)).toBeLessThanOrEqual(1);
    }
  });

  it('inserts exactly one period of a 125 Hz tone when growing: 96 samples give 160', () => {
    const x = harmonicTone(125, 0.1);
    const out = new Int16Array(160);
    expect(scaler.grow(x, 160, out, 160, 80)).toBe(160 - 64);
    for (let i = 0; i < 160; i++) {
      expect(Math.abs(out[i]! - x[i]!)).toBeLessThanOrEqual(1);
    }
  });

  it('never removes more than allowed: with 50 samples of budget, no 64-sample period fits', () => {
    const x = harmonicTone(125, 0.1);
    const out = new Int16Array(160);
    // Lags ≤ 50 are half a period off (correlation well below 0.8): the frame is copied unchanged.
    expect(scaler.shrink(x, x.length, out, 160, 50)).toBe(160);
    expect(Array.from(out)).toEqual(Array.from(x.subarray(0, 160)));
  });

  it('leaves white noise alone (no period correlates ≥ 0.8)', () => {
    const r = rng(3);
    const x = Int16Array.from({ length: 400 }, () => Math.round((r() - 0.5) * 20000));
    const out = new Int16Array(160);
    expect(scaler.shrink(x, x.length, out, 160, 120)).toBe(160);
    expect(scaler.lastCorrelation).toBeLessThan(0.8);
    expect(Array.from(out)).toEqual(Array.from(x.subarray(0, 160)));
  });

  it('cuts the longest allowed stretch of a quiet signal (below −50 dBFS)', () => {
    const r = rng(4);
    const x = Int16Array.from({ length: 400 }, () => Math.round((r() - 0.5) * 100));
    const out = new Int16Array(160);
    expect(scaler.shrink(x, x.length, out, 160, 100)).toBe(260);
  });

  for (const percent of [10, -10]) {
    it(`keeps the pitch of a 123 Hz voiced tone played ${Math.abs(percent)} % ${percent > 0 ? 'faster' : 'slower'}; linear resampling shifts it`, () => {
      const x = harmonicTone(123, 3);
      const f0 = autocorrPitch(x);
      expect(f0).toBeCloseTo(123, 0);
      const pitched = scaleSignal(x, percent, pitchScaler);
      const linear = scaleSignal(x, percent, linearScaler);
      // The duration changed by the requested amount in both.
      const consumed = (y: Int16Array) => y.length / x.length;
      expect(consumed(pitched)).toBeGreaterThan(percent > 0 ? 0.85 : 1.05);
      expect(consumed(pitched)).toBeLessThan(percent > 0 ? 0.95 : 1.15);
      // Pitch within 0.5 % with periods cut or repeated; shifted by ≈ the rate change linearly.
      expect(Math.abs(autocorrPitch(pitched) / f0 - 1)).toBeLessThan(0.005);
      const ratio = autocorrPitch(linear) / f0;
      expect(Math.abs(ratio - (percent > 0 ? 1.1 : 0.9))).toBeLessThan(0.03);
    });
  }

  it('joins frames without a step larger than the tone itself has', () => {
    const x = harmonicTone(123, 1);
    let maxStep = 0;
    for (let i = 1; i < x.length; i++) {
      maxStep = Math.max(maxStep, Math.abs(x[i]! - x[i - 1]!));
    }
    for (const percent of [10, -10]) {
      const y = scaleSignal(x, percent, pitchScaler);
      for (let i = 1; i < y.length; i++) {
        expect(Math.abs(y[i]! - y[i - 1]!)).toBeLessThanOrEqual(maxStep * 1.25);
      }
    }
  });
});
