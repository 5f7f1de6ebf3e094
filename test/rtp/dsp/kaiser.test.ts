import { describe, expect, it } from 'vitest';
import { besselI0, kaiser, kaiserBeta, sinc } from '../../../rtp/dsp/kaiser.js';

describe('Kaiser design helpers', () => {
  it('I0 matches tabulated values (Abramowitz & Stegun, Table 9.8)', () => {
    expect(besselI0(0)).toBe(1);
    expect(besselI0(1)).toBeCloseTo(1.2660658777520082, 14);
    expect(besselI0(5)).toBeCloseTo(27.239871823604442, 11);
    expect(besselI0(10)).toBeCloseTo(2815.716628466254, 8);
  });

  it('window: 1 at the centre, symmetric, 0 at and beyond the edges', () => {
    expect(kaiser(0, 10, 8)).toBe(1);
    expect(kaiser(3, 10, 8)).toBeCloseTo(kaiser(-3, 10, 8), 15);
    expect(kaiser(10, 10, 8)).toBe(0);
    expect(kaiser(-11, 10, 8)).toBe(0);
    expect(kaiser(9.9, 10, 8)).toBeLessThan(kaiser(5, 10, 8));
  });

  it('sinc and Kaiser β (Oppenheim & Schafer eq. 7.62)', () => {
    expect(sinc(0)).toBe(1);
    expect(sinc(1)).toBeCloseTo(0, 15);
    expect(sinc(0.5)).toBeCloseTo(2 / Math.PI, 15);
    expect(kaiserBeta(90)).toBeCloseTo(0.1102 * 81.3, 12);
    expect(kaiserBeta(30)).toBeCloseTo(0.5842 * Math.pow(9, 0.4) + 0.07886 * 9, 12);
    expect(kaiserBeta(10)).toBe(0);
  });
});
