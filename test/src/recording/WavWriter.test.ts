import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CallRecorder } from '../../../src/recording/CallRecorder.js';
import { floatToPcm16, WavWriter } from '../../../src/recording/WavWriter.js';
import { FIXTURES } from '../../helpers/paths.js';
import { logSink } from '../logSink.js';

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

  it('records a call at 24 kHz from float frames, with the header of a 24 kHz mono PCM16 file', () => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-wav-'));
    const rec = new CallRecorder(dir, logSink().logger);
    rec.writeFloat24k('call-7', new Float32Array(1920).fill(0.25));
    rec.writeFloat24k('call-7', new Float32Array(1920));
    expect(() => rec.writePcm8k('call-7', new Int16Array(160))).toThrow(/24000 Hz/);
    rec.close();
    const wav = readFileSync(join(dir, 'recordings', 'call-7.wav'));
    expect(wav.length).toBe(44 + 3840 * 2);
    expect(wav.subarray(0, 44).toString('hex')).toBe(
      // RIFF, 36 + 7680, WAVE, "fmt ", 16, PCM, mono, 24000, 48000, 2, 16, "data", 7680
      '52494646241e000057415645666d74201000000001000100c05d000080bb0000020010006461746100' + '1e0000',
    );
    expect(wav.readInt16LE(44)).toBe(8192); // round(0.25 * 32767)
    expect(wav.readInt16LE(44 + 3840)).toBe(0);
  });
});
