/**
 * A small WAV (RIFF/WAVE) reader and writer for prompts, recordings and the `transcribe` command.
 *
 * Reads PCM (8-bit unsigned, 16/24/32-bit signed), IEEE float (32/64-bit), A-law (tag 6) and μ-law
 * (tag 7), plain or as WAVE_FORMAT_EXTENSIBLE (tag 0xFFFE, sub-format GUID). Writes PCM16, float32
 * and G.711 with the header layout SoX uses (44 bytes for PCM16; `fmt ` of 18 bytes plus a `fact`
 * chunk, 58 bytes, for float and G.711), so output is byte-identical to SoX's for the same audio.
 *
 * @see Microsoft "Multimedia Programming Interface and Data Specifications 1.0" (RIFF, 1991);
 * WAVEFORMATEXTENSIBLE (mmreg.h, ksmedia.h).
 */
import { RtpError } from './errors.js';
import { alawToLinear, encodeAlaw, encodeUlaw, ulawToLinear } from './codec/g711.js';
import { resample } from './dsp/Resampler.js';

/** Sample encodings this module writes. */
export type WavFormat = 'pcm16' | 'float32' | 'ulaw' | 'alaw';

/** Codes of {@link WavError}. */
export type WavErrorCode = 'RTP_ERR_WAV_NOT_RIFF' | 'RTP_ERR_WAV_TRUNCATED' | 'RTP_ERR_WAV_UNSUPPORTED';

/** A file that is not a WAV this module can read. */
export class WavError extends RtpError {
  declare readonly code: WavErrorCode;
  constructor(code: WavErrorCode, message: string) {
    super(code, message);
    this.name = 'WavError';
  }
}

/** A parsed WAV: its format and a view of its sample bytes (not copied). */
export interface WavInfo {
  /** wFormatTag, resolved through WAVE_FORMAT_EXTENSIBLE: 1 PCM, 3 float, 6 A-law, 7 μ-law. */
  readonly formatTag: number;
  readonly bitsPerSample: number;
  readonly sampleRate: number;
  readonly channels: number;
  /** Sample frames (samples per channel) in `data`. */
  readonly frames: number;
  /** The sample bytes, a view into the input (whole frames only). */
  readonly data: Uint8Array;
}

const TAG_PCM = 1;
const TAG_FLOAT = 3;
const TAG_ALAW = 6;
const TAG_ULAW = 7;
const TAG_EXTENSIBLE = 0xfffe;

function fourcc(v: DataView, at: number): string {
  return String.fromCharCode(v.getUint8(at), v.getUint8(at + 1), v.getUint8(at + 2), v.getUint8(at + 3));
}

function supported(tag: number, bits: number): boolean {
  switch (tag) {
    case TAG_PCM:
      return bits === 8 || bits === 16 || bits === 24 || bits === 32;
    case TAG_FLOAT:
      return bits === 32 || bits === 64;
    case TAG_ALAW:
    case TAG_ULAW:
      return bits === 8;
    default:
      return false;
  }
}

/**
 * Parses a WAV file held in memory. Chunks other than `fmt ` and `data` are skipped; a `data` size
 * larger than the file (as streaming writers leave it) is cut to the bytes present.
 * @throws WavError `RTP_ERR_WAV_NOT_RIFF`, `RTP_ERR_WAV_TRUNCATED` (no complete `fmt `/`data`),
 * `RTP_ERR_WAV_UNSUPPORTED` (other encodings, zero channels or rate).
 */
export function parseWav(bytes: Uint8Array): WavInfo {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 12 || fourcc(v, 0) !== 'RIFF' || fourcc(v, 8) !== 'WAVE') {
    throw new WavError('RTP_ERR_WAV_NOT_RIFF', `not a RIFF/WAVE file (${bytes.length} bytes)`);
  }
  let fmt: { tag: number; channels: number; rate: number; align: number; bits: number } | undefined;
  let p = 12;
  while (p + 8 <= bytes.length) {
    const id = fourcc(v, p);
    const size = v.getUint32(p + 4, true);
    const body = p + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + size > bytes.length) {
        throw new WavError('RTP_ERR_WAV_TRUNCATED', `fmt chunk of ${size} bytes at ${p} is short or cut off`);
      }
      let tag = v.getUint16(body, true);
      if (tag === TAG_EXTENSIBLE) {
        if (size < 40) {
          throw new WavError('RTP_ERR_WAV_TRUNCATED', `extensible fmt chunk of ${size} bytes (40 needed)`);
        }
        // The sub-format GUID starts with the classic format tag.
        tag = v.getUint16(body + 24, true);
      }
      fmt = {
        tag,
        channels: v.getUint16(body + 2, true),
        rate: v.getUint32(body + 4, true),
        align: v.getUint16(body + 12, true),
        bits: v.getUint16(body + 14, true),
      };
    } else if (id === 'data') {
      if (fmt === undefined) {
        throw new WavError('RTP_ERR_WAV_TRUNCATED', 'data chunk before fmt chunk');
      }
      if (!supported(fmt.tag, fmt.bits)) {
        throw new WavError(
          'RTP_ERR_WAV_UNSUPPORTED',
          `format tag ${fmt.tag} with ${fmt.bits} bits per sample is not supported`,
        );
      }
      if (fmt.channels === 0 || fmt.rate === 0) {
        throw new WavError('RTP_ERR_WAV_UNSUPPORTED', `${fmt.channels} channels at ${fmt.rate} Hz`);
      }
      const frameBytes = (fmt.bits / 8) * fmt.channels;
      const avail = Math.min(size, bytes.length - body);
      const frames = Math.floor(avail / frameBytes);
      return {
        formatTag: fmt.tag,
        bitsPerSample: fmt.bits,
        sampleRate: fmt.rate,
        channels: fmt.channels,
        frames,
        data: bytes.subarray(body, body + frames * frameBytes),
      };
    }
    p = body + size + (size & 1);
  }
  throw new WavError('RTP_ERR_WAV_TRUNCATED', fmt ? 'no data chunk' : 'no fmt chunk');
}

/** Reads sample `i` (interleaved index) of `w` as a float in [-1, 1]. */
function sampleReader(w: WavInfo): (i: number) => number {
  const d = w.data;
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  switch (w.formatTag) {
    case TAG_ULAW:
      return (i) => ulawToLinear(d[i]!) / 32768;
    case TAG_ALAW:
      return (i) => alawToLinear(d[i]!) / 32768;
    case TAG_FLOAT:
      return w.bitsPerSample === 32 ? (i) => v.getFloat32(4 * i, true) : (i) => v.getFloat64(8 * i, true);
    default:
      switch (w.bitsPerSample) {
        case 8:
          return (i) => (d[i]! - 128) / 128;
        case 16:
          return (i) => v.getInt16(2 * i, true) / 32768;
        case 24:
          return (i) => ((d[3 * i + 2]! << 24) | (d[3 * i + 1]! << 16) | (d[3 * i]! << 8)) / 2147483648;
        default:
          return (i) => v.getInt32(4 * i, true) / 2147483648;
      }
  }
}

/**
 * The audio of `w` as float32 in [-1, 1], mixed down to mono (channel average).
 * Float data beyond ±1 is clamped; NaN becomes 0.
 */
export function wavToFloat32(w: WavInfo): Float32Array {
  const read = sampleReader(w);
  const ch = w.channels;
  const out = new Float32Array(w.frames);
  for (let f = 0; f < w.frames; f++) {
    let s = 0;
    for (let c = 0; c < ch; c++) {
      s += read(f * ch + c);
    }
    s /= ch;
    // NOTE: clamps float data beyond ±1 and turns NaN (corrupt float files) into silence.
    out[f] = s > 1 ? 1 : s < -1 ? -1 : s === s ? s : 0;
  }
  return out;
}

/** The audio of `w` as 16-bit mono (channel average, rounded; G.711 decodes exactly). */
export function wavToInt16(w: WavInfo): Int16Array {
  if (w.channels === 1 && w.formatTag === TAG_PCM && w.bitsPerSample === 16) {
    const out = new Int16Array(w.frames);
    const v = new DataView(w.data.buffer, w.data.byteOffset, w.data.byteLength);
    for (let i = 0; i < w.frames; i++) {
      out[i] = v.getInt16(2 * i, true);
    }
    return out;
  }
  const f = wavToFloat32(w);
  const out = new Int16Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const s = Math.round(f[i]! * 32768);
    out[i] = s > 32767 ? 32767 : s < -32768 ? -32768 : s;
  }
  return out;
}

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

/** Convenience: parse, then mono float32 with its rate. */
export function readWavFloat32(bytes: Uint8Array): { sampleRate: number; samples: Float32Array } {
  const w = parseWav(bytes);
  return { sampleRate: w.sampleRate, samples: wavToFloat32(w) };
}

/**
 * A WAV file as mono float32 at `rate` Hz (default 24000, the STT input): parse, mix down, resample
 * with {@link resample} when the file's rate differs. For `sipscribe transcribe FILE.wav`.
 * @throws WavError as {@link parseWav}.
 */
export function readWavAtRate(bytes: Uint8Array, rate = 24000): Float32Array {
  const { sampleRate, samples } = readWavFloat32(bytes);
  return sampleRate === rate ? samples : resample(samples, sampleRate, rate);
}
