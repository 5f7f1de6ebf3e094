import { describe, expect, it } from 'vitest';
import { DelayEstimator } from '../../../rtp/jitter/DelayEstimator.js';
import { rng } from '../rng.js';

describe('DelayEstimator', () => {
  it('starts at max(min delay, 1.25 frames)', () => {
    expect(new DelayEstimator(160, 80, 1600).target).toBe(200);
    expect(new DelayEstimator(160, 320, 1600).target).toBe(320);
  });

  it('measures uniform 0–50 ms jitter as its 95th − 10th percentile (42.5 ms) and targets it + 25 ms', () => {
    const e = new DelayEstimator(160, 160, 1600);
    const r = rng(5);
    for (let i = 0; i < 1000; i++) {
      e.add(1000 + r() * 400);
    }
    expect(e.jitter / 8).toBeGreaterThan(38);
    expect(e.jitter / 8).toBeLessThan(47);
    // 1000 samples = 125 ms, plus the 10th percentile of 0–50 ms (5 ms), from 128 samples.
    expect(e.base / 8).toBeGreaterThan(127);
    expect(e.base / 8).toBeLessThan(134);
    // Target: 42.5 ms of jitter + 25 ms, within the estimate's spread above.
    expect(e.target / 8).toBeGreaterThan(63);
    expect(e.target / 8).toBeLessThan(72);
  });

  it('targets jitter + 1.25 frames, hand-computed for 100 transits of 1000, 1020, … 1380 (5 each)', () => {
    const e = new DelayEstimator(160, 160, 1600);
    for (let i = 0; i < 100; i++) {
      e.add(1000 + (i % 20) * 20);
    }
    // Sorted: s[k] = 1000 + 20 · floor(k / 5). 10th percentile s[floor(0.1 · 99)] = s[9] = 1020;
    // 95th s[floor(0.95 · 99)] = s[94] = 1360: jitter 340; target 340 + 160 + 40 = 540 samples.
    expect([e.base, e.jitter, e.target]).toEqual([1020, 340, 540]);
  });

  it('ignores one early packet (the base is a percentile, not the minimum) and clamps to the maximum', () => {
    const e = new DelayEstimator(160, 160, 400);
    for (let i = 0; i < 200; i++) {
      e.add(i === 150 ? -5000 : 1000);
    }
    expect(e.base).toBe(1000);
    for (let i = 0; i < 200; i++) {
      e.add(1000 + (i % 2) * 4000);
    }
    expect(e.target).toBe(400);
  });

  it('shift moves the kept transits with the timeline: base now, later percentiles from the moved ones', () => {
    const e = new DelayEstimator(160, 160, 1600);
    for (let i = 0; i < 16; i++) {
      e.add(i);
    }
    // Sorted 0..15: base = s[floor(0.1 · 15)] = s[1] = 1; jitter = s[floor(0.95 · 15)] − 1 = 14 − 1.
    expect([e.base, e.jitter]).toEqual([1, 13]);
    e.shift(100);
    expect([e.base, e.jitter]).toEqual([101, 13]);
    // Eight more (recomputed at 24): 100..115 and 8 × 1000: base s[2] = 102, jitter s[21] − 102.
    for (let i = 0; i < 8; i++) {
      e.add(1000);
    }
    expect([e.base, e.jitter]).toEqual([102, 898]);
  });
});
