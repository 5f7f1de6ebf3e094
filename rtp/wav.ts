/**
 * The one WAV (RIFF/WAVE) reader and writer: prompts and the `transcribe` command read, call
 * recordings write.
 *
 * Reads PCM (8-bit unsigned, 16/24/32-bit signed), IEEE float (32/64-bit), A-law (tag 6) and μ-law
 * (tag 7), plain or as WAVE_FORMAT_EXTENSIBLE (tag 0xFFFE, sub-format GUID). Writes PCM16 mono as a
 * stream ({@link WavWriter}) with the 44-byte header SoX writes, so a file is byte-identical to
 * SoX's for the same samples.
 *
 * @see Microsoft "Multimedia Programming Interface and Data Specifications 1.0" (RIFF, 1991);
 * WAVEFORMATEXTENSIBLE (mmreg.h, ksmedia.h).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { RtpError } from './errors.js';
import { alawToLinear, ulawToLinear } from './codec/g711.js';
import { resample } from './dsp/Resampler.js';

/** Codes of {@link WavError}. */
type WavErrorCode = 'RTP_ERR_WAV_NOT_RIFF' | 'RTP_ERR_WAV_TRUNCATED' | 'RTP_ERR_WAV_UNSUPPORTED';

/** A file that is not a WAV this module can read. */
export class WavError extends RtpError {
  declare readonly code: WavErrorCode;
  constructor(code: WavErrorCode, message: string) {
    super(code, message);
    this.name = 'WavError';
  }
}

/** A parsed WAV: its format and a view of its sample bytes (not copied). */
interface WavInfo {
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

const HEADER_BYTES = 44;

/** The canonical 44-byte header for `dataBytes` of PCM16 mono at `sampleRate`. */
function wavHeader(sampleRate: number, dataBytes: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16); // fmt chunk size
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * 2, 28); // byte rate
  h.writeUInt16LE(2, 32); // block align
  h.writeUInt16LE(16, 34); // bits per sample
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** Float samples in [-1, 1] to PCM16 (clamped; -1 → -32768, 1 → 32767). */
export function floatToPcm16(src: Float32Array, dst: Int16Array = new Int16Array(src.length)): Int16Array {
  if (dst.length < src.length) {
    throw new RangeError(`destination holds ${dst.length} samples, source has ${src.length}`);
  }
  for (let i = 0; i < src.length; i++) {
    const s = Math.max(-1, Math.min(1, src[i] ?? 0));
    dst[i] = Math.round(s < 0 ? s * 32768 : s * 32767);
  }
  return dst;
}

/**
 * A streaming PCM16 mono WAV file: writes the 44-byte header with zero sizes, appends samples as
 * they come and patches the RIFF and data sizes on `close()`.
 */
export class WavWriter {
  readonly path: string;
  readonly sampleRate: number;
  #fd: number | null;
  #dataBytes = 0;
  #scratch = new Int16Array(0);

  constructor(path: string, sampleRate: number) {
    this.path = path;
    this.sampleRate = sampleRate;
    this.#fd = openSync(path, 'w');
    writeSync(this.#fd, wavHeader(sampleRate, 0));
  }

  /** Samples written so far. */
  get samples(): number {
    return this.#dataBytes / 2;
  }

  /** Appends PCM16 samples (written little-endian whatever the host order). */
  writeInt16(samples: Int16Array): void {
    const fd = this.#open();
    const buf = Buffer.alloc(samples.length * 2);
    for (let i = 0; i < samples.length; i++) {
      buf.writeInt16LE(samples[i] ?? 0, i * 2);
    }
    writeSync(fd, buf);
    this.#dataBytes += buf.length;
  }

  /** Appends float samples in [-1, 1] (the 24 kHz frames sent to the STT). */
  writeFloat32(samples: Float32Array): void {
    if (this.#scratch.length < samples.length) {
      this.#scratch = new Int16Array(samples.length);
    }
    this.writeInt16(floatToPcm16(samples, this.#scratch).subarray(0, samples.length));
  }

  /** Patches the header sizes and closes the file. Idempotent. */
  close(): void {
    if (this.#fd === null) {
      return;
    }
    const fd = this.#fd;
    this.#fd = null;
    writeSync(fd, wavHeader(this.sampleRate, this.#dataBytes), 0, HEADER_BYTES, 0);
    closeSync(fd);
  }

  #open(): number {
    if (this.#fd === null) {
      throw new Error(`${this.path} is closed`);
    }
    return this.#fd;
  }
}
