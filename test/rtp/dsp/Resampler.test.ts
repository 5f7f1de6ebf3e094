import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resample, Resampler } from '../../../rtp/dsp/Resampler.js';
import { FIXTURES } from '../../helpers/paths.js';
import { bandEnergy, powerSpectrum, readF32, readPcm16Wav } from './quality.js';

// Reference: SoX 14.4.2 `rate -v` on 1 s sweeps 50 Hz … (rate/2 − 500 Hz) (scripts/gen-dsp-fixtures.sh).
const dsp = join(FIXTURES, 'dsp');
const db = (r: number): number => 10 * Math.log10(r);

function toFloat(x: Int16Array): Float32Array {
  return Float32Array.from(x, (v) => v / 32768);
}

/** SNR of `out` against `ref` over 0…`hi` Hz (both at 24 kHz, aligned). */
function snr(out: Float32Array, ref: Float32Array, hi: number): number {
  const n = Math.min(out.length, ref.length);
  const err = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    err[i] = out[i]! - ref[i]!;
  }
  return db(
    bandEnergy(powerSpectrum(ref.subarray(0, n)), 24000, 0, hi) /
      bandEnergy(powerSpectrum(err), 24000, 0, hi),
  );
}

describe('Resampler against SoX rate -v', () => {
  it.each([16000, 22050, 44100, 48000])(
    '%i Hz → 24 kHz sweep: SNR ≥ 60 dB up to 0.85 of the lower Nyquist',
    (rate) => {
      const src = toFloat(readPcm16Wav(join(dsp, `sweep_${rate}.wav`)));
      const ref = readF32(join(dsp, `sweep_${rate}_to24k_soxv.f32`));
      const out = resample(src, rate, 24000);
      expect(out.length).toBe(ref.length);
      const hi = 0.85 * (Math.min(rate, 24000) / 2);
      const s = snr(out, ref, hi);
      // Out-of-band: for upsampling, images above the input Nyquist (+5 %) relative to the whole output.
      const p = powerSpectrum(out);
      const oob =
        rate < 24000
          ? db(bandEnergy(p, 24000, (rate / 2) * 1.05, 12000) / bandEnergy(p, 24000, 0, 12000))
          : NaN;
      console.log(
        `${rate} → 24000: SNR ${s.toFixed(1)} dB (≤ ${hi} Hz)${rate < 24000 ? `, images ${oob.toFixed(1)} dB` : ''}`,
      );
      expect(s).toBeGreaterThanOrEqual(60);
      if (rate < 24000) {
        expect(oob).toBeLessThanOrEqual(-70);
      }
    },
  );

  it('8 kHz → 24 kHz speech agrees with SoX too (general path, ≥ 60 dB up to 3.4 kHz)', () => {
    const src = toFloat(readPcm16Wav(join(FIXTURES, 'audio', 'fox_pcm16_8k.wav')));
    const ref = readF32(join(dsp, 'fox_24k_soxv.f32'));
    const out = resample(src, 8000, 24000);
    expect(out.length).toBe(ref.length);
    expect(snr(out, ref, 3400)).toBeGreaterThanOrEqual(60);
  });
});

describe('Resampler streaming', () => {
  const src = toFloat(readPcm16Wav(join(dsp, 'sweep_44100.wav')));

  it('chunked input gives the same output as one block', () => {
    const whole = resample(src, 44100, 24000);
    for (const chunk of [441, 1000, 7]) {
      const r = new Resampler(44100, 24000);
      const out = new Float32Array(whole.length + 10);
      const tmp = new Float32Array(r.maxOutput(chunk) + 2);
      let n = 0;
      for (let i = 0; i < src.length; i += chunk) {
        const k = r.process(src.subarray(i, i + chunk), tmp);
        out.set(tmp.subarray(0, k), n);
        n += k;
      }
      const rest = new Float32Array(r.maxOutput(r.halfTaps));
      const k = r.flush(rest);
      out.set(rest.subarray(0, k), n);
      n += k;
      expect(n).toBe(whole.length);
      expect(Array.from(out.subarray(0, n))).toEqual(Array.from(whole));
    }
  });

  it('unusual rates use quantised phases and still track a tone', () => {
    // 44056 Hz: out/in = 3000/5507, more than 4096 phases.
    const rate = 44056;
    const f = 1000;
    const x = Float32Array.from({ length: rate }, (_, i) => 0.5 * Math.sin((2 * Math.PI * f * i) / rate));
    const y = resample(x, rate, 24000);
    expect(y.length).toBe(Math.ceil((rate * 24000) / rate));
    let err = 0;
    let sig = 0;
    for (let j = 2000; j < 22000; j++) {
      const want = 0.5 * Math.sin((2 * Math.PI * f * j) / 24000);
      err += (y[j]! - want) ** 2;
      sig += want * want;
    }
    expect(db(sig / err)).toBeGreaterThanOrEqual(70);
  });

  it('validates rates, options and destination size', () => {
    expect(() => new Resampler(0, 24000)).toThrow(RangeError);
    expect(() => new Resampler(8000.5, 24000)).toThrow(RangeError);
    expect(() => new Resampler(8000, 24000, { passband: 1.2 })).toThrow(RangeError);
    const r = new Resampler(16000, 24000);
    expect(() => r.process(new Float32Array(320), new Float32Array(10))).toThrow(RangeError);
    expect(resample(src.subarray(0, 10), 24000, 24000)).toEqual(src.subarray(0, 10));
  });
});
