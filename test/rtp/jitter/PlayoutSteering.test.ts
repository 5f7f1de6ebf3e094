import { describe, expect, it } from 'vitest';
import { PlayoutSteering } from '../../../rtp/jitter/PlayoutSteering.js';

// 20 ms frames at 8 kHz: 160 samples, guard 20 samples (2.5 ms); with a target of 200 samples
// (25 ms) shrinking starts above max(80, 200 / 4) = 80 samples (10 ms) of excess. At 10 % the
// credit grows by 16 samples per frame (0.1 × 160), at 20 % by 32.
describe('PlayoutSteering', () => {
  it('plays one frame per frame inside the dead band (−2.5 ms … +10 ms around the target)', () => {
    const s = new PlayoutSteering(160);
    expect([-20, -1, 0, 50, 80].map((err) => s.next(err, 200))).toEqual([0, 0, 0, 0, 0]);
  });

  it('shrinking: the credit grows 16 per frame until spent, until back within the 20-sample guard', () => {
    const s = new PlayoutSteering(160);
    expect(s.next(100, 200)).toBe(16);
    expect(s.next(90, 200)).toBe(32);
    s.done(32);
    expect(s.next(58, 200)).toBe(16);
    // Never more than the remaining error.
    expect(s.next(25, 200)).toBe(25);
    expect(s.next(20, 200)).toBe(0);
    expect(s.next(50, 200)).toBe(0);
  });

  it('shrinkRate 0.2 doubles the credit per frame; the credit is capped at one frame', () => {
    const s = new PlayoutSteering(160, 0.2);
    expect([1000, 1000, 1000, 1000, 1000, 1000].map((err) => s.next(err, 200))).toEqual([
      32, 64, 96, 128, 160, 160,
    ]);
  });

  it('a larger target widens the band above it: a quarter of the target (1600 → 400)', () => {
    const s = new PlayoutSteering(160);
    expect([399, 400, 401, 100].map((err) => s.next(err, 1600))).toEqual([0, 0, 16, 32]);
  });

  it('grows from 20 below the target, by at most the remaining shortfall, until it is reached', () => {
    const s = new PlayoutSteering(160);
    expect(s.next(-40, 200)).toBe(-16);
    expect(s.next(-30, 200)).toBe(-30);
    s.done(-30);
    expect(s.next(-10, 200)).toBe(-10);
    expect(s.next(0, 200)).toBe(0);
    expect(s.next(-15, 200)).toBe(0);
  });

  it('switches straight from growing to shrinking when the error jumps, with a fresh credit', () => {
    const s = new PlayoutSteering(160);
    expect([-30, -30, 90].map((err) => s.next(err, 200))).toEqual([-16, -30, 16]);
  });
});
