import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Upsampler8to24 } from '../../../rtp/dsp/Upsampler8to24.js';
import { FIXTURES } from '../../helpers/paths.js';
import { LINEAR_DELAY, linearUpsample, measure, readF32, readPcm16Wav, toneGainDb } from './quality.js';

// Reference: SoX 14.4.2 `rate -v` (very high quality) output, float32 (scripts/gen-dsp-fixtures.sh).
const dsp = join(FIXTURES, 'dsp');
const D = Upsampler8to24.DELAY;

function upsample(src: Int16Array, chunk = src.length): Float32Array {
  const up = new Upsampler8to24();
  const out = new Float32Array(src.length * 3);
  for (let i = 0; i < src.length; i += chunk) {
    const part = src.subarray(i, Math.min(src.length, i + chunk));
    expect(up.process(part, out, 3 * i)).toBe(3 * part.length);
  }
  return out;
}

/** Drops the group delay: out[d..] against ref[0..]. */
function aligned(out: Float32Array, ref: Float32Array, d: number): [Float32Array, Float32Array] {
  const n = Math.min(out.length - d, ref.length);
  return [out.subarray(d, d + n), ref.subarray(0, n)];
}

const cases = [
  ['speech (fox_pcm16_8k.wav)', join(FIXTURES, 'audio', 'fox_pcm16_8k.wav'), join(dsp, 'fox_24k_soxv.f32')],
  ['sweep 50–3400 Hz', join(dsp, 'sweep_8k.wav'), join(dsp, 'sweep_24k_soxv.f32')],
] as const;

describe('Upsampler8to24 quality against SoX rate -v', () => {
  it.each(cases)('%s: SNR ≥ 50 dB, stopband ≤ −80 dB, ripple ≤ 0.1 dB', (name, input, reference) => {
    const src = readPcm16Wav(input);
    const ref = readF32(reference);
    expect(ref.length).toBe(3 * src.length);
    const q = measure(...aligned(upsample(src), ref, D));
    const lin = measure(...aligned(linearUpsample(src), ref, LINEAR_DELAY));
    console.log(
      `${name}: polyphase SNR ${q.snrDb.toFixed(1)} dB, >4.6 kHz ${q.stopbandDb.toFixed(1)} dB, ripple ${q.bandRippleDb.toFixed(3)} dB;` +
        ` linear SNR ${lin.snrDb.toFixed(1)} dB, >4.6 kHz ${lin.stopbandDb.toFixed(1)} dB, ripple ${lin.bandRippleDb.toFixed(2)} dB`,
    );
    expect(q.snrDb).toBeGreaterThanOrEqual(50);
    expect(q.stopbandDb).toBeLessThanOrEqual(-80);
    expect(q.bandRippleDb).toBeLessThanOrEqual(0.1);
    // The measurement discriminates: linear interpolation fails every bound.
    expect(lin.snrDb).toBeLessThan(50);
    expect(lin.stopbandDb).toBeGreaterThan(-80);
  });

  it('passband ripple ≤ 0.1 dB on steady tones 100–3400 Hz (gain against the tone amplitude)', () => {
    const amp = 16000;
    const gains: number[] = [];
    for (let f = 100; f <= 3400; f += 100) {
      const src = new Int16Array(9000);
      for (let i = 0; i < src.length; i++) {
        src[i] = Math.round(amp * Math.sin((2 * Math.PI * f * i) / 8000));
      }
      const out = upsample(src);
      // Output j is input time (j − D)/24000: fit the tone over 1 s of steady output.
      const start = 2400;
      const shifted = out.subarray(D);
      gains.push(toneGainDb(shifted, start, 24000, f, 24000, amp / 32768));
    }
    const ripple = Math.max(...gains) - Math.min(...gains);
    console.log(
      `tone gains 100–3400 Hz: ${Math.min(...gains).toFixed(4)}…${Math.max(...gains).toFixed(4)} dB`,
    );
    expect(ripple).toBeLessThanOrEqual(0.1);
    for (const g of gains) {
      expect(Math.abs(g)).toBeLessThan(0.05);
    }
  });
});

describe('Upsampler8to24 streaming', () => {
  const src = readPcm16Wav(join(FIXTURES, 'audio', 'fox_pcm16_8k.wav'));

  it('160-sample packets give exactly the same output as one block', () => {
    const whole = upsample(src);
    expect(Array.from(upsample(src, 160))).toEqual(Array.from(whole));
    expect(Array.from(upsample(src, 7))).toEqual(Array.from(whole));
    expect(Array.from(upsample(src, 2000))).toEqual(Array.from(whole));
  });

  it('after silence longer than its memory, rings out to exact zeros and starts again as a new one', () => {
    // Speech, 300 ms of digital silence (a call on hold, or before its first packet), speech.
    const a = src.subarray(0, 1600);
    const b = src.subarray(1600, 3200);
    const gap = 2400;
    const input = new Int16Array(a.length + gap + b.length);
    input.set(a);
    input.set(b, a.length + gap);
    const out = upsample(input, 160);
    // The FIR's tail: 2·K − 1 = 43 input samples (129 outputs) after the last speech sample.
    const ring = out.subarray(3 * a.length, 3 * a.length + 3 * Upsampler8to24.HISTORY);
    expect(ring.some((v) => v !== 0)).toBe(true);
    expect(
      out.subarray(3 * (a.length + Upsampler8to24.HISTORY), 3 * (a.length + gap)).every((v) => v === 0),
    ).toBe(true);
    // A filter whose memory holds only zeros is a new filter: speech after the gap comes out as if
    // it were the first thing the upsampler ever saw.
    expect(Array.from(out.subarray(3 * (a.length + gap)))).toEqual(Array.from(upsample(b)));
  });

  it('passes the input samples through at phase 0, delayed by DELAY/3 input samples', () => {
    const out = upsample(src);
    for (let n = 0; n + D / 3 < src.length; n += 97) {
      expect(out[3 * n + D]).toBe(src[n]! / 32768);
    }
  });

  it('keeps full-scale square waves within [-1, 1] (clamps the FIR overshoot)', () => {
    const sq = new Int16Array(800);
    for (let i = 0; i < sq.length; i++) {
      sq[i] = (i >> 4) & 1 ? 32767 : -32768;
    }
    const out = upsample(sq);
    let max = 0;
    for (const v of out) {
      max = Math.max(max, Math.abs(v));
    }
    expect(max).toBeLessThanOrEqual(1);
    expect(max).toBeGreaterThan(0.99);
  });

  it('writes at an offset, rejects a short destination, and reset() forgets the memory', () => {
    const up = new Upsampler8to24();
    const dst = new Float32Array(500);
    expect(up.process(src.subarray(0, 160), dst, 20)).toBe(480);
    expect(() => up.process(src.subarray(0, 160), new Float32Array(479))).toThrow(RangeError);
    expect(() => up.process(src.subarray(0, 160), dst, 21)).toThrow(RangeError);
    up.reset();
    const again = new Float32Array(500);
    up.process(src.subarray(0, 160), again, 20);
    expect(Array.from(again)).toEqual(Array.from(dst));
  });
});
