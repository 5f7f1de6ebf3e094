import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CallRecorder } from '../../../src/recording/CallRecorder.js';
import { logSink } from '../logSink.js';

describe('CallRecorder', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

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
