/**
 * Audio input of the `transcribe` command: anything that yields 24 kHz mono frames of exactly
 * 1920 samples.
 *
 * TEMPORARY (lead, at merge): `readWav24k` below is a minimal WAV reader that accepts 24 kHz input
 * only. Replace it with the product's reader and resampler from `rtp/` (`rtp/wav.ts` and the
 * arbitrary-rate → 24 kHz resampler in `rtp/dsp/`, exported through `rtp/index.ts`), wrapped as an
 * {@link AudioSource}; nothing else in the command has to change.
 */
import { readFileSync } from 'node:fs';
import { SttError, STT_ERR } from './errors.js';
import { FRAME_SAMPLES, SAMPLE_RATE } from './protocol.js';

/** 24 kHz mono audio cut into 1920-sample frames (the last one padded with zeros). */
export interface AudioSource {
  /** Duration in ms, when known. */
  readonly durationMs: number | null;
  frames(): Iterable<Float32Array> | AsyncIterable<Float32Array>;
}

/** Cuts mono 24 kHz samples into 1920-sample frames, zero-padding the last. */
export function framesOf(samples: Float32Array): Float32Array[] {
  const out: Float32Array[] = [];
  for (let pos = 0; pos < samples.length; pos += FRAME_SAMPLES) {
    const f = new Float32Array(FRAME_SAMPLES);
    f.set(samples.subarray(pos, Math.min(samples.length, pos + FRAME_SAMPLES)));
    out.push(f);
  }
  return out;
}

/**
 * Reads a RIFF/WAVE file: PCM 16-bit or IEEE float 32-bit (format 1, 3 or 0xFFFE extensible),
 * any channel count (mixed down to mono), **24 kHz only** (see the TEMPORARY note above).
 * @throws SttError `STT_ERR_WAV` naming what is wrong.
 */
export function readWav24k(path: string): AudioSource {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw new SttError(STT_ERR.WAV, `cannot read ${path}: ${(err as Error).message}`);
  }
  const bad = (why: string): SttError => new SttError(STT_ERR.WAV, `${path}: ${why}`);
  if (
    buf.length < 12 ||
    buf.toString('latin1', 0, 4) !== 'RIFF' ||
    buf.toString('latin1', 8, 12) !== 'WAVE'
  ) {
    throw bad('not a RIFF/WAVE file');
  }
  let pos = 12;
  let fmt: { format: number; channels: number; rate: number; bits: number } | null = null;
  let data: Buffer | null = null;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('latin1', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = buf.subarray(pos + 8, Math.min(buf.length, pos + 8 + size));
    if (id === 'fmt ') {
      if (body.length < 16) {
        throw bad(`fmt chunk of ${body.length} bytes is too short`);
      }
      let format = body.readUInt16LE(0);
      if (format === 0xfffe && body.length >= 26) {
        format = body.readUInt16LE(24);
      }
      fmt = {
        format,
        channels: body.readUInt16LE(2),
        rate: body.readUInt32LE(4),
        bits: body.readUInt16LE(14),
      };
    } else if (id === 'data') {
      data = body;
    }
    pos += 8 + size + (size % 2);
  }
  if (!fmt || !data) {
    throw bad('no fmt or data chunk');
  }
  const pcm16 = fmt.format === 1 && fmt.bits === 16;
  const float32 = fmt.format === 3 && fmt.bits === 32;
  if (!pcm16 && !float32) {
    throw bad(`format ${fmt.format} with ${fmt.bits} bits is not supported (PCM 16-bit or float 32-bit)`);
  }
  if (fmt.rate !== SAMPLE_RATE) {
    throw bad(
      `${fmt.rate} Hz: this build reads 24000 Hz WAV only (resampling comes with the rtp/ resampler)`,
    );
  }
  if (fmt.channels < 1) {
    throw bad('no channels');
  }
  const bytes = fmt.bits / 8;
  const n = Math.floor(data.length / (bytes * fmt.channels));
  const mono = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let c = 0; c < fmt.channels; c++) {
      const at = (i * fmt.channels + c) * bytes;
      sum += pcm16 ? data.readInt16LE(at) / 32768 : data.readFloatLE(at);
    }
    mono[i] = sum / fmt.channels;
  }
  const frames = framesOf(mono);
  return { durationMs: (n / SAMPLE_RATE) * 1000, frames: () => frames };
}
