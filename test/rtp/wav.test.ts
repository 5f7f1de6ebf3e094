import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  floatToPcm16,
  parseWav,
  readWavAtRate,
  readWavFloat32,
  WavError,
  wavToFloat32,
  wavToInt16,
  WavWriter,
} from '../../rtp/wav.js';
import { FIXTURES } from '../helpers/paths.js';
import { encodeWav } from '../helpers/wavEncode.js';
import { readF32 } from './dsp/quality.js';

const audio = (f: string): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES, 'audio', f)));
const dsp = (f: string): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES, 'dsp', f)));

describe('parseWav on the SoX-made fixtures', () => {
  it.each([
    ['fox_pcmu_8k.wav', 7, 8, 'fox_pcmu_8k.ul'],
    ['fox_pcma_8k.wav', 6, 8, 'fox_pcma_8k.al'],
    ['tone1k_pcmu_8k.wav', 7, 8, 'tone1k_pcmu_8k.ul'],
    ['tone1k_pcma_8k.wav', 6, 8, 'tone1k_pcma_8k.al'],
  ] as const)(
    '%s (58-byte G.711 header): tag %i, same length and values as the headerless file',
    (file, tag, bits, raw) => {
      const bytes = audio(file);
      const w = parseWav(bytes);
      expect(w).toMatchObject({ formatTag: tag, bitsPerSample: bits, sampleRate: 8000, channels: 1 });
      expect(w.data.byteOffset - bytes.byteOffset).toBe(58);
      const headerless = audio(raw);
      expect(w.frames).toBe(headerless.length);
      // NOTE: the lab made the .wav and the .ul/.al with SoX's default dither, independently, so the
      // bytes differ by about one quantisation step here and there; compare decoded values.
      const fromWav = wavToInt16(w);
      const fromRaw = wavToInt16({ ...w, data: headerless });
      for (let i = 0; i < fromWav.length; i++) {
        expect(Math.abs(fromWav[i]! - fromRaw[i]!)).toBeLessThanOrEqual(Math.abs(fromRaw[i]!) / 8 + 16);
      }
    },
  );

  it('PCM16 fixtures: 8 and 24 kHz fox, μ-law file decodes close to the PCM16 one', () => {
    const w8 = parseWav(audio('fox_pcm16_8k.wav'));
    const w24 = parseWav(audio('fox_pcm16_24k.wav'));
    expect(w8).toMatchObject({ formatTag: 1, bitsPerSample: 16, sampleRate: 8000, channels: 1 });
    expect(w24).toMatchObject({ formatTag: 1, sampleRate: 24000 });
    const pcm = wavToInt16(w8);
    const ul = wavToInt16(parseWav(audio('fox_pcmu_8k.wav')));
    expect(ul.length).toBe(pcm.length);
    // G.711 quantisation: ≤ half a step of the top segment (1024/2 in 16-bit units).
    for (let i = 0; i < pcm.length; i++) {
      expect(Math.abs(ul[i]! - pcm[i]!)).toBeLessThanOrEqual(512);
    }
  });

  it('float32 WAV matches its PCM16 source', () => {
    const f = readWavFloat32(dsp('tone1k_f32_8k.wav'));
    const pcm = wavToInt16(parseWav(audio('tone1k_pcm16_8k.wav')));
    expect(f.sampleRate).toBe(8000);
    expect(f.samples.length).toBe(pcm.length);
    for (let i = 0; i < pcm.length; i++) {
      expect(f.samples[i]).toBe(pcm[i]! / 32768);
    }
  });

  it('24-bit stereo WAVE_FORMAT_EXTENSIBLE: mono mix equals the mean of SoX float channels', () => {
    const w = parseWav(dsp('stereo_s24_16k.wav'));
    expect(w).toMatchObject({ formatTag: 1, bitsPerSample: 24, sampleRate: 16000, channels: 2, frames: 800 });
    const ref = readF32(join(FIXTURES, 'dsp', 'stereo_s24_16k.f32'));
    const mono = wavToFloat32(w);
    for (let i = 0; i < 800; i++) {
      expect(mono[i]).toBeCloseTo((ref[2 * i]! + ref[2 * i + 1]!) / 2, 7);
    }
  });

  it('8-bit unsigned PCM matches SoX', () => {
    const mono = wavToFloat32(parseWav(dsp('u8_8k.wav')));
    const ref = readF32(join(FIXTURES, 'dsp', 'u8_8k.f32'));
    expect(Array.from(mono)).toEqual(Array.from(ref));
  });
});

describe('the test encoder (test/helpers/wavEncode.ts) writes what SoX writes', () => {
  it.each([
    ['fox_pcmu_8k.wav', 'ulaw'],
    ['fox_pcma_8k.wav', 'alaw'],
    ['fox_pcm16_8k.wav', 'pcm16'],
  ] as const)('%s round-trips byte for byte', (file, format) => {
    const bytes = audio(file);
    const w = parseWav(bytes);
    const samples = format === 'pcm16' ? wavToInt16(w) : w.data;
    const out = encodeWav(samples, { format, sampleRate: 8000 });
    expect(Buffer.from(out).equals(Buffer.from(bytes))).toBe(true);
  });

  it('float32 from int16 equals the SoX float WAV; G.711 from int16 equals the SoX G.711 WAV', () => {
    const pcm = wavToInt16(parseWav(audio('tone1k_pcm16_8k.wav')));
    expect(
      Buffer.from(encodeWav(pcm, { format: 'float32', sampleRate: 8000 })).equals(
        Buffer.from(dsp('tone1k_f32_8k.wav')),
      ),
    ).toBe(true);
    expect(
      Buffer.from(encodeWav(pcm, { format: 'ulaw', sampleRate: 8000 })).equals(
        Buffer.from(dsp('tone1k_pcmu_8k_nodither.wav')),
      ),
    ).toBe(true);
    expect(
      Buffer.from(encodeWav(pcm, { format: 'alaw', sampleRate: 8000 })).equals(
        Buffer.from(dsp('tone1k_pcma_8k_nodither.wav')),
      ),
    ).toBe(true);
  });

  it('stereo and float round trips: interleaved samples, mono mix, clamping of float beyond ±1 and NaN', () => {
    const st = new Int16Array([1000, -1000, 32767, 32767, -32768, 0]);
    const w = parseWav(encodeWav(st, { format: 'pcm16', sampleRate: 16000, channels: 2 }));
    expect(w).toMatchObject({ channels: 2, frames: 3, sampleRate: 16000, formatTag: 1 });
    expect(Array.from(wavToFloat32(w))).toEqual([0, 32767 / 32768, -0.5]);
    const f = new Float32Array([0.25, 1.5, -2, NaN]);
    const wf = parseWav(encodeWav(f, { format: 'float32', sampleRate: 8000 }));
    expect(wf).toMatchObject({ formatTag: 3, bitsPerSample: 32 });
    expect(Array.from(wavToFloat32(wf))).toEqual([0.25, 1, -1, 0]);
    expect(Array.from(wavToInt16(wf))).toEqual([8192, 32767, -32768, 0]);
  });

  it('pads odd data and validates options', () => {
    const out = encodeWav(new Uint8Array([1, 2, 3]), { format: 'ulaw', sampleRate: 8000 });
    expect(out.length).toBe(58 + 3 + 1);
    expect(parseWav(out).frames).toBe(3);
    expect(() => encodeWav(new Int16Array(3), { format: 'pcm16', sampleRate: 8000, channels: 2 })).toThrow(
      RangeError,
    );
    expect(() => encodeWav(new Int16Array(2), { format: 'pcm16', sampleRate: 0 })).toThrow(RangeError);
    expect(() => encodeWav(new Uint8Array(2), { format: 'pcm16', sampleRate: 8000 })).toThrow(RangeError);
  });
});

describe('parseWav errors', () => {
  const good = audio('tone1k_pcm16_8k.wav');
  const codeOf = (b: Uint8Array): string => {
    try {
      parseWav(b);
    } catch (e) {
      expect(e).toBeInstanceOf(WavError);
      return (e as WavError).code;
    }
    return 'none';
  };

  it.each([
    ['empty', new Uint8Array(0), 'RTP_ERR_WAV_NOT_RIFF'],
    ['not RIFF', new TextEncoder().encode('RIFX\0\0\0\0WAVEfmt '), 'RTP_ERR_WAV_NOT_RIFF'],
    ['header only', good.subarray(0, 12), 'RTP_ERR_WAV_TRUNCATED'],
    ['fmt cut off', good.subarray(0, 30), 'RTP_ERR_WAV_TRUNCATED'],
    ['no data chunk', good.subarray(0, 36), 'RTP_ERR_WAV_TRUNCATED'],
  ])('%s → %s', (_name, bytes, code) => {
    expect(codeOf(bytes)).toBe(code);
  });

  it('unsupported encodings (ADPCM tag 2, 12-bit PCM) → RTP_ERR_WAV_UNSUPPORTED', () => {
    const adpcm = Uint8Array.from(good);
    new DataView(adpcm.buffer).setUint16(20, 2, true);
    expect(codeOf(adpcm)).toBe('RTP_ERR_WAV_UNSUPPORTED');
    const pcm12 = Uint8Array.from(good);
    new DataView(pcm12.buffer).setUint16(34, 12, true);
    expect(codeOf(pcm12)).toBe('RTP_ERR_WAV_UNSUPPORTED');
  });

  it('a data size beyond the end of file (streaming writer) is cut to the bytes present', () => {
    const b = Uint8Array.from(good.subarray(0, 44 + 101));
    new DataView(b.buffer).setUint32(40, 0xffffffff, true);
    expect(parseWav(b).frames).toBe(50);
  });
});

describe('readWavAtRate (transcribe input)', () => {
  it('44.1 kHz sweep → 24 kHz close to SoX rate -v; a 24 kHz file passes unchanged', () => {
    const out = readWavAtRate(dsp('sweep_44100.wav'));
    const ref = readF32(join(FIXTURES, 'dsp', 'sweep_44100_to24k_soxv.f32'));
    expect(out.length).toBe(ref.length);
    let err = 0;
    let sig = 0;
    for (let i = 0; i < ref.length; i++) {
      err += (out[i]! - ref[i]!) ** 2;
      sig += ref[i]! ** 2;
    }
    // Whole band (29 dB measured): the sweep spends ~6 % of its time in 10.8–12 kHz, where our
    // passband (0.9 of Nyquist) has ended and SoX's has not. In-band figures: Resampler.test.ts.
    expect(10 * Math.log10(sig / err)).toBeGreaterThan(25);
    const same = readWavAtRate(audio('fox_pcm16_24k.wav'));
    expect(Array.from(same)).toEqual(Array.from(wavToFloat32(parseWav(audio('fox_pcm16_24k.wav')))));
    expect(readWavAtRate(audio('fox_pcm16_8k.wav')).length).toBe(
      3 * parseWav(audio('fox_pcm16_8k.wav')).frames,
    );
  });
});

describe('WavWriter', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('rewrites the sox-made 1 kHz tone byte for byte', () => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-wav-'));
    const fixture = readFileSync(join(FIXTURES, 'audio', 'tone1k_pcm16_8k.wav'));
    const data = fixture.subarray(44);
    const samples = new Int16Array(data.length / 2);
    for (let i = 0; i < samples.length; i++) {
      samples[i] = data.readInt16LE(i * 2);
    }
    const out = join(dir, 'tone.wav');
    const w = new WavWriter(out, 8000);
    w.writeInt16(samples.subarray(0, 1000));
    w.writeInt16(samples.subarray(1000));
    w.close();
    w.close();
    expect(readFileSync(out).equals(fixture)).toBe(true);
  });

  it('converts floats with clamping', () => {
    expect([...floatToPcm16(new Float32Array([0, 0.5, -0.5, 1, -1, 2, -3]))]).toEqual([
      0, 16384, -16384, 32767, -32768, 32767, -32768,
    ]);
  });
});
