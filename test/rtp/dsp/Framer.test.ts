import { describe, expect, it } from 'vitest';
import { Framer } from '../../../rtp/dsp/Framer.js';
import type { AudioFrame } from '../../../rtp/dsp/Framer.js';

/** A ramp whose value is the sample's stream position: frames can be checked sample by sample. */
function ramp(from: number, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = from + i;
  }
  return a;
}

describe('Framer', () => {
  it('turns 480-sample packets into exact 1920-sample frames with sample-exact offsets', () => {
    const seen: { index: number; start: number; ms: number; first: number; last: number }[] = [];
    const framer = new Framer((f) => {
      seen.push({
        index: f.index,
        start: f.startSample,
        ms: f.offsetMs,
        first: f.samples[0]!,
        last: f.samples[1919]!,
      });
      framer.release(f);
    });
    // 3 s of 20 ms packets = 150 packets = 72000 samples = 37.5 frames.
    for (let p = 0; p < 150; p++) {
      framer.push(ramp(p * 480, 480));
    }
    expect(seen).toHaveLength(37);
    seen.forEach((s, k) => {
      expect(s).toEqual({ index: k, start: 1920 * k, ms: 80 * k, first: 1920 * k, last: 1920 * k + 1919 });
    });
    expect(framer.pending).toBe(480 * 150 - 37 * 1920);
    expect(framer.nextStartSample).toBe(37 * 1920);
  });

  it('accepts any chunking, including chunks larger than a frame', () => {
    const starts: number[] = [];
    const values: number[] = [];
    const framer = new Framer((f) => {
      starts.push(f.startSample);
      values.push(...f.samples);
      framer.release(f);
    });
    let pos = 0;
    for (const n of [1, 7, 1919, 5000, 33, 480, 3]) {
      framer.push(ramp(pos, n));
      pos += n;
    }
    expect(starts).toEqual([0, 1920, 3840]);
    expect(values).toEqual(Array.from(ramp(0, 3 * 1920)));
  });

  it('allocates nothing in steady state when frames are released; allocates when they are kept', () => {
    const released = new Framer((f) => released.release(f), { poolSize: 2 });
    const kept: AudioFrame[] = [];
    const keeping = new Framer((f) => kept.push(f), { poolSize: 2 });
    for (let p = 0; p < 400; p++) {
      released.push(ramp(0, 480));
      keeping.push(ramp(p * 480, 480));
    }
    expect(released.stats().frames).toBe(100);
    expect(released.stats().allocated).toBe(2);
    expect(keeping.stats().allocated).toBe(101);
    // Kept frames are never overwritten.
    expect(kept[0]!.samples[0]).toBe(0);
    expect(kept[99]!.samples[1919]).toBe(100 * 1920 - 1);
  });

  it('flush() pads the last partial frame with zeros', () => {
    const frames: AudioFrame[] = [];
    const framer = new Framer((f) => frames.push(f));
    expect(framer.flush()).toBe(false);
    framer.push(ramp(1, 100));
    expect(framer.flush()).toBe(true);
    expect(frames).toHaveLength(1);
    expect(frames[0]!.samples[99]).toBe(100);
    expect(frames[0]!.samples[100]).toBe(0);
    expect(frames[0]!.samples[1919]).toBe(0);
    expect(framer.pending).toBe(0);
  });

  it('honours startSample, other sizes and rates, and validates options', () => {
    const offsets: number[] = [];
    const framer = new Framer((f) => offsets.push(f.offsetMs), {
      frameSize: 160,
      sampleRate: 8000,
      startSample: 80,
    });
    framer.push(new Float32Array(480));
    expect(offsets).toEqual([10, 30, 50]);
    expect(() => new Framer(() => undefined, { frameSize: 0 })).toThrow(RangeError);
    expect(() => new Framer(() => undefined, { sampleRate: -1 })).toThrow(RangeError);
    expect(() => new Framer(() => undefined, { startSample: 0.5 })).toThrow(RangeError);
    expect(() =>
      framer.release({ samples: new Float32Array(3), index: 0, startSample: 0, offsetMs: 0 }),
    ).toThrow(RangeError);
  });
});
