import { describe, expect, it } from 'vitest';
import { PlayoutSteering, timeScale } from '../../../rtp/jitter/PlayoutSteering.js';

// 20 ms frames at 8 kHz: 160 samples, steps of 16 (10 %), guard 20 samples (2.5 ms); with a target
// of 200 samples (25 ms) shrinking starts above max(80, 200 / 4) = 80 samples (10 ms) of excess.
describe('PlayoutSteering', () => {
  it('plays one frame per frame inside the dead band (−2.5 ms … +10 ms around the target)', () => {
    const s = new PlayoutSteering(160);
    expect([-20, -1, 0, 50, 80].map((err) => s.next(err, 200))).toEqual([160, 160, 160, 160, 160]);
  });

  it('shrinks by 16 samples from 80 above the target until back within the 20-sample guard', () => {
    const s = new PlayoutSteering(160);
    expect([100, 30, 21, 20, 50].map((err) => s.next(err, 200))).toEqual([176, 176, 176, 160, 160]);
  });

  it('a larger target widens the band above it: a quarter of the target (1600 → 400)', () => {
    const s = new PlayoutSteering(160);
    expect([399, 400, 401, 100].map((err) => s.next(err, 1600))).toEqual([160, 160, 176, 176]);
  });

  it('grows from 20 below the target, by at most the remaining shortfall, until it is reached', () => {
    const s = new PlayoutSteering(160);
    // −40: −16; −10 (inside the guard, but growing): −10; −0.5: ceil(0.5) = 1; 0: steady.
    expect([-40, -10, -0.5, 0, -15].map((err) => s.next(err, 200))).toEqual([144, 150, 159, 160, 160]);
  });

  it('switches straight from growing to shrinking when the error jumps', () => {
    const s = new PlayoutSteering(160);
    expect([-30, 90].map((err) => s.next(err, 200))).toEqual([144, 176]);
  });

  it('uses 1-sample steps for frames under 10 samples', () => {
    const s = new PlayoutSteering(8);
    expect(s.next(100, 0)).toBe(9);
  });
});

describe('timeScale', () => {
  /** 10 × i: a linear ramp, which linear interpolation reproduces exactly at any rate. */
  const ramp = (n: number): Int16Array => Int16Array.from({ length: n }, (_, i) => 10 * i);

  it('squeezes 176 samples into 160 keeping both ends: out[i] = round(10 · i · 175/159)', () => {
    const out = new Int16Array(160);
    timeScale(ramp(176), 176, out, 160);
    expect(out[0]).toBe(0);
    expect(out[159]).toBe(1750);
    expect(Array.from(out)).toEqual(Array.from({ length: 160 }, (_, i) => Math.round((10 * i * 175) / 159)));
  });

  it('stretches 144 samples over 160: out[i] = round(10 · i · 143/159)', () => {
    const out = new Int16Array(160);
    timeScale(ramp(200), 144, out, 160);
    expect(out[159]).toBe(1430);
    expect(Array.from(out)).toEqual(Array.from({ length: 160 }, (_, i) => Math.round((10 * i * 143) / 159)));
  });

  it('is the identity at n = frame', () => {
    const src = Int16Array.from([5, -300, 32767, -32768, 0, 7]);
    const out = new Int16Array(6);
    timeScale(src, 6, out, 6);
    expect(Array.from(out)).toEqual([5, -300, 32767, -32768, 0, 7]);
  });

  it('interpolates between two samples: 4 → 5 from [0, 300, 600, 900]', () => {
    // k = 3/4: x = 0, 0.75, 1.5, 2.25, 3 → 0, 225, 450, 675, 900.
    const out = new Int16Array(5);
    timeScale(Int16Array.from([0, 300, 600, 900]), 4, out, 5);
    expect(Array.from(out)).toEqual([0, 225, 450, 675, 900]);
  });
});
