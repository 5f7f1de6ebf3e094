/**
 * Builds WAV files of every format the reader takes (PCM16, float32, G.711; mono or interleaved),
 * with the header layout SoX uses (44 bytes for PCM16; `fmt ` of 18 bytes plus a `fact` chunk,
 * 58 bytes, for float and G.711): test input for `rtp/wav.ts`'s reader, itself checked byte for
 * byte against SoX's files in `test/rtp/wav.test.ts`.
 */
import { encodeAlaw, encodeUlaw } from '../../rtp/index.js';

/** Sample encodings {@link encodeWav} writes. */
export type WavFormat = 'pcm16' | 'float32' | 'ulaw' | 'alaw';

const TAG_PCM = 1;
const TAG_FLOAT = 3;
const TAG_ALAW = 6;
const TAG_ULAW = 7;

/** What {@link encodeWav} writes. */
export interface WavWriteOptions {
  format: WavFormat;
  sampleRate: number;
  /** Interleaved channels in the samples. Default 1. */
  channels?: number;
}

/**
 * Builds a WAV file. Samples are interleaved when `channels > 1`.
 * - `pcm16`: `Int16Array` as is; `Float32Array` is scaled by 32768, rounded and clamped.
 * - `float32`: `Float32Array` as is; `Int16Array` is divided by 32768.
 * - `ulaw`/`alaw`: `Uint8Array` is taken as codes; `Int16Array` is encoded (G.711);
 *   `Float32Array` is converted to 16 bits first.
 * @throws RangeError on a bad rate or channel count, or a sample count not divisible by `channels`.
 */
export function encodeWav(
  samples: Int16Array | Float32Array | Uint8Array,
  opts: WavWriteOptions,
): Uint8Array {
  const channels = opts.channels ?? 1;
  if (!(Number.isInteger(opts.sampleRate) && opts.sampleRate > 0)) {
    throw new RangeError(`encodeWav: bad sample rate ${opts.sampleRate}`);
  }
  if (!(Number.isInteger(channels) && channels > 0 && channels < 65536)) {
    throw new RangeError(`encodeWav: bad channel count ${channels}`);
  }
  if (samples.length % channels !== 0) {
    throw new RangeError(`encodeWav: ${samples.length} samples is not a multiple of ${channels} channels`);
  }
  const bytesPer = opts.format === 'pcm16' ? 2 : opts.format === 'float32' ? 4 : 1;
  const tag =
    opts.format === 'pcm16'
      ? TAG_PCM
      : opts.format === 'float32'
        ? TAG_FLOAT
        : opts.format === 'alaw'
          ? TAG_ALAW
          : TAG_ULAW;
  const n = samples.length;
  const dataBytes = n * bytesPer;
  const fmtSize = tag === TAG_PCM ? 16 : 18;
  const factBytes = tag === TAG_PCM ? 0 : 12;
  const header = 12 + 8 + fmtSize + factBytes + 8;
  const pad = dataBytes & 1;
  const out = new Uint8Array(header + dataBytes + pad);
  const v = new DataView(out.buffer);
  const ascii = (at: number, s: string): void => {
    for (let i = 0; i < 4; i++) {
      out[at + i] = s.charCodeAt(i);
    }
  };
  ascii(0, 'RIFF');
  v.setUint32(4, out.length - 8, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  v.setUint32(16, fmtSize, true);
  v.setUint16(20, tag, true);
  v.setUint16(22, channels, true);
  v.setUint32(24, opts.sampleRate, true);
  v.setUint32(28, opts.sampleRate * channels * bytesPer, true);
  v.setUint16(32, channels * bytesPer, true);
  v.setUint16(34, bytesPer * 8, true);
  let p = 36;
  if (fmtSize === 18) {
    v.setUint16(36, 0, true);
    ascii(38, 'fact');
    v.setUint32(42, 4, true);
    v.setUint32(46, n / channels, true);
    p = 50;
  }
  ascii(p, 'data');
  v.setUint32(p + 4, dataBytes, true);
  writeSamples(samples, opts.format, out.subarray(header, header + dataBytes), v, header);
  return out;
}

function toInt16(samples: Int16Array | Float32Array | Uint8Array): Int16Array {
  if (samples instanceof Int16Array) {
    return samples;
  }
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.round(samples[i]! * 32768);
    out[i] = s > 32767 ? 32767 : s < -32768 ? -32768 : s;
  }
  return out;
}

function writeSamples(
  samples: Int16Array | Float32Array | Uint8Array,
  format: WavFormat,
  data: Uint8Array,
  v: DataView,
  at: number,
): void {
  switch (format) {
    case 'pcm16': {
      if (samples instanceof Uint8Array) {
        throw new RangeError('encodeWav: pcm16 needs Int16Array or Float32Array samples');
      }
      const s16 = toInt16(samples);
      for (let i = 0; i < s16.length; i++) {
        v.setInt16(at + 2 * i, s16[i]!, true);
      }
      return;
    }
    case 'float32':
      if (samples instanceof Uint8Array) {
        throw new RangeError('encodeWav: float32 needs Float32Array or Int16Array samples');
      }
      for (let i = 0; i < samples.length; i++) {
        v.setFloat32(at + 4 * i, samples instanceof Int16Array ? samples[i]! / 32768 : samples[i]!, true);
      }
      return;
    case 'ulaw':
    case 'alaw':
      if (samples instanceof Uint8Array) {
        data.set(samples);
      } else if (format === 'ulaw') {
        encodeUlaw(toInt16(samples), data);
      } else {
        encodeAlaw(toInt16(samples), data);
      }
      return;
  }
}
