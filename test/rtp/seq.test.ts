import { describe, expect, it } from 'vitest';
import { seqAdd, seqDiff, seqGt, seqLt, tsAdd, tsDiff, tsLt, tsNear } from '../../rtp/seq.js';

describe('16-bit sequence arithmetic', () => {
  it.each([
    [0xffff, 1, 0],
    [0xfffe, 3, 1],
    [0, -1, 0xffff],
    [100, 0x10000, 100],
  ])('seqAdd(%d, %d) = %d', (a, n, r) => {
    expect(seqAdd(a, n)).toBe(r);
  });
  it.each([
    [0xffff, 0, 1],
    [0, 0xffff, -1],
    [0xfff0, 0x0010, 32],
    [5, 5, 0],
    [0, 0x7fff, 32767],
    [0, 0x8000, -32768],
    [0x8000, 0, -32768],
  ])('seqDiff(%d, %d) = %d', (a, b, d) => {
    expect(seqDiff(a, b)).toBe(d);
  });
  it('orders across the wrap', () => {
    expect(seqLt(0xffff, 0)).toBe(true);
    expect(seqGt(0, 0xffff)).toBe(true);
    expect(seqLt(0, 0xffff)).toBe(false);
  });
});

describe('32-bit timestamp arithmetic', () => {
  it.each([
    [0xffffffff, 1, 0],
    [0xffffff60, 160, 0],
    [0xffffff60, 320, 160],
    [0, -160, 0xffffff60],
  ])('tsAdd(%d, %d) = %d', (a, n, r) => {
    expect(tsAdd(a, n)).toBe(r);
  });
  it.each([
    [0xffffffff, 0, 1],
    [0, 0xffffffff, -1],
    [0xffffff60, 0xa0, 320],
    [0, 0x7fffffff, 0x7fffffff],
    [0, 0x80000000, -0x80000000],
  ])('tsDiff(%d, %d) = %d', (a, b, d) => {
    expect(tsDiff(a, b)).toBe(d);
  });
  it('orders across the wrap', () => {
    expect(tsLt(0xffffffff, 0)).toBe(true);
    expect(tsLt(0, 0xffffffff)).toBe(false);
  });
  it.each([
    [0xffffff60, 0x60, 0x100000060],
    [0x100000060, 0xffffff60, 0xffffff60],
    [0x100000060, 0xa0, 0x1000000a0],
    [5, 0xffffffff, -1 + 0],
    [0x200000000 + 10, 0xfffffff0, 0x1fffffff0],
  ])('tsNear(%d, %d) = %d', (ref, ts, r) => {
    expect(tsNear(ref, ts)).toBe(r);
  });
});
