import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { G711Plc } from '../../../rtp/dsp/G711Plc.js';
import { FIXTURES } from '../../helpers/paths.js';
import { readPcm16Wav } from './quality.js';

const D = G711Plc.DELAY;
const PKT = 160;

/** A voiced-like periodic signal: three harmonics of f0. */
function voiced(f0: number, n: number): Int16Array {
  const x = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const t = (2 * Math.PI * f0 * i) / 8000;
    x[i] = Math.round(6000 * Math.sin(t) + 3000 * Math.sin(2 * t + 0.3) + 1500 * Math.sin(3 * t + 1));
  }
  return x;
}

/** Runs `x` through the PLC in 20 ms packets, concealing the packets whose index is in `lost`. */
function run(x: Int16Array, lost: (p: number) => boolean, plc = new G711Plc()): Int16Array {
  const out = new Int16Array(x.length);
  for (let p = 0; p * PKT < x.length; p++) {
    const o = out.subarray(p * PKT, (p + 1) * PKT);
    if (lost(p)) {
      plc.conceal(o);
    } else {
      plc.addGood(x.subarray(p * PKT, (p + 1) * PKT), o);
    }
  }
  return out;
}

function maxStep(a: Int16Array, from = 1, to = a.length): number {
  let m = 0;
  for (let i = Math.max(1, from); i < to; i++) {
    m = Math.max(m, Math.abs(a[i]! - a[i - 1]!));
  }
  return m;
}

function energy(a: Int16Array, from: number, to: number): number {
  let e = 0;
  for (let i = from; i < to; i++) {
    e += a[i]! * a[i]!;
  }
  return e;
}

describe('G711Plc (ITU-T G.711 Appendix I)', () => {
  const speech = readPcm16Wav(join(FIXTURES, 'audio', 'fox_pcm16_8k.wav')).subarray(0, 160 * 170);

  it('without loss the output is the input delayed by DELAY (30 samples)', () => {
    const out = run(speech, () => false);
    expect(D).toBe(30);
    for (let i = 0; i < D; i++) {
      expect(out[i]).toBe(0);
    }
    expect(Array.from(out.subarray(D))).toEqual(Array.from(speech.subarray(0, speech.length - D)));
  });

  it('accepts in-place processing and rejects lengths that are not whole 10 ms frames', () => {
    const plc = new G711Plc();
    const buf = Int16Array.from(speech.subarray(0, 160));
    plc.addGood(buf, buf);
    expect(Array.from(buf.subarray(D))).toEqual(Array.from(speech.subarray(0, 160 - D)));
    expect(() => plc.addGood(new Int16Array(100), new Int16Array(100))).toThrow(RangeError);
    expect(() => plc.conceal(new Int16Array(79))).toThrow(RangeError);
    expect(() => plc.addGood(new Int16Array(160), new Int16Array(80))).toThrow(RangeError);
  });

  it('reads and writes at offsets exactly as on views of the same samples (a loss in between)', () => {
    const x = voiced(100, 8000);
    const onViews = new G711Plc();
    const atOffsets = new G711Plc();
    const a = new Int16Array(640);
    const b = new Int16Array(640).fill(9);
    onViews.addGood(x.subarray(40, 200), a.subarray(80, 240));
    atOffsets.addGood(x, b, 80, 40, 160);
    onViews.conceal(a.subarray(240, 320));
    atOffsets.conceal(b, 240, 80);
    onViews.addGood(x.subarray(280, 440), a.subarray(320, 480));
    atOffsets.addGood(x, b, 320, 280, 160);
    expect(Array.from(b.subarray(80, 480))).toEqual(Array.from(a.subarray(80, 480)));
    // Nothing outside the range given is written.
    expect(b.subarray(0, 80).every((v) => v === 9) && b.subarray(480).every((v) => v === 9)).toBe(true);
  });

  it('finds the pitch period and continues a periodic signal (first 10 ms SNR ≥ 40 dB)', () => {
    const x = voiced(100, 8000); // period 80 samples
    const plc = new G711Plc();
    const out = run(x, (p) => p === 25, plc);
    expect(plc.pitch).toBe(80);
    // Lost packet 25 covers input 4000..4159; the output is delayed by D.
    const start = 25 * PKT;
    let sig = 0;
    let err = 0;
    for (let i = start; i < start + 80; i++) {
      sig += x[i - D]! ** 2;
      err += (out[i]! - x[i - D]!) ** 2;
    }
    expect(10 * Math.log10(sig / err)).toBeGreaterThanOrEqual(40);
    const y = voiced(125, 8000); // period 64
    const plc2 = new G711Plc();
    run(y, (p) => p === 25, plc2);
    expect(plc2.pitch).toBe(64);
  });

  it.each([1, 2, 3, 5])('no step discontinuity at loss start or end (%i packets lost)', (n) => {
    const x = voiced(110, 8000); // period 72.7: the repetition is not exact
    const out = run(x, (p) => p >= 20 && p < 20 + n);
    const clean = maxStep(x);
    const around = maxStep(out, 20 * PKT - 200, (20 + n) * PKT + 400);
    expect(around).toBeLessThanOrEqual(1.25 * clean);
  });

  it('attenuates over successive lost frames and is silent after 60 ms', () => {
    const x = voiced(110, 8000);
    const lossPkts = 6; // 120 ms
    const out = run(x, (p) => p >= 20 && p < 20 + lossPkts);
    const start = 20 * PKT;
    const frameEnergy = (k: number): number => energy(out, start + D + 80 * k, start + D + 80 * (k + 1));
    // 10 ms frames of the synthetic signal (aligned to the delay): full, then −20 % per 10 ms.
    for (let k = 1; k < 6; k++) {
      expect(frameEnergy(k)).toBeLessThan(frameEnergy(k - 1));
    }
    for (let i = start + D + 480; i < start + lossPkts * PKT + D; i++) {
      expect(out[i]).toBe(0);
    }
    // Recovery from silence fades in over 10 ms: no step either.
    expect(maxStep(out, start + lossPkts * PKT, start + lossPkts * PKT + 400)).toBeLessThanOrEqual(
      maxStep(x),
    );
  });

  it('matches the ITU-T G.191 reference (g711iplc) on speech with 20 % loss, to within its rounding', () => {
    // The mask is G.192 frame headers, one per 10 ms frame: 0x6B21 received, 0x6B20 lost (20 % random
    // 20 ms packets, bursts of 1–5 packets, single and triple 10 ms losses). The reference is the
    // output of the STL's g711iplc for the same input and mask (see test/README.md, Fixtures).
    const mask = readFileSync(join(FIXTURES, 'dsp', 'g711plc_fox_loss.g192'));
    const refBytes = readFileSync(join(FIXTURES, 'dsp', 'g711plc_fox_g191.raw'));
    const ref = new Int16Array(refBytes.length / 2);
    for (let i = 0; i < ref.length; i++) {
      ref[i] = refBytes.readInt16LE(2 * i);
    }
    const frames = mask.length / 2;
    expect(frames * 80).toBe(speech.length);
    const plc = new G711Plc();
    const out = new Int16Array(speech.length + 80);
    let lostFrames = 0;
    for (let f = 0; f < frames; f++) {
      const o = out.subarray(f * 80, (f + 1) * 80);
      if (mask.readUInt16LE(2 * f) === 0x6b20) {
        plc.conceal(o);
        lostFrames++;
      } else {
        plc.addGood(speech.subarray(f * 80, (f + 1) * 80), o);
      }
    }
    expect(lostFrames).toBe(67);
    // g711iplc drops the first DELAY samples and flushes the history with a silent frame at the end.
    plc.addGood(new Int16Array(80), out.subarray(speech.length));
    expect(ref.length).toBe(speech.length);
    let differing = 0;
    let maxDiff = 0;
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs(out[i + D]! - ref[i]!);
      differing += d > 0 ? 1 : 0;
      maxDiff = Math.max(maxDiff, d);
    }
    // G711Plc rounds where the C code truncates (float → short): at most one unit per conversion,
    // and a concealed sample passes through at most two (repetition, then gain or cross-fade). With
    // Math.trunc instead of Math.round the output is sample-exact (checked when this test was
    // written). Outside concealment and merges the output is exact.
    expect(maxDiff).toBeLessThanOrEqual(2);
    expect(differing).toBeLessThan(0.1 * ref.length);
  });

  it('speech with 20 % loss: continuous, and identical to the input once each merge is over', () => {
    let seed = 12345;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    const lostSet = new Set<number>();
    for (let p = 2; p < speech.length / PKT; p++) {
      if (rnd() < 0.2) {
        lostSet.add(p);
      }
    }
    const out = run(speech, (p) => lostSet.has(p));
    expect(out.length).toBe(speech.length);
    let compared = 0;
    for (let p = 0; p < speech.length / PKT; p++) {
      // A good packet after a good packet: its last 10 ms, past the merge region, equal the input.
      if (!lostSet.has(p) && !lostSet.has(p - 1)) {
        for (let i = p * PKT + 80 + D; i < (p + 1) * PKT; i++) {
          expect(out[i]).toBe(speech[i - D]);
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(5000);
    expect(maxStep(out)).toBeLessThanOrEqual(1.5 * maxStep(speech));
  });
});
