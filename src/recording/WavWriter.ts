/**
 * A streaming PCM16 mono WAV writer: writes a 44-byte RIFF/WAVE header with zero sizes, appends
 * samples as they come and patches the RIFF and data sizes on `close()`.
 *
 * NOTE: the media stack (`rtp/`) has a WAV writer of its own for its tests and tools; the two
 * should become one when the layers are wired together (only `rtp/index.ts` may be imported here).
 */
import { closeSync, openSync, writeSync } from 'node:fs';

const HEADER_BYTES = 44;

/** The canonical 44-byte header for `dataBytes` of PCM16 mono at `sampleRate`. */
export function wavHeader(sampleRate: number, dataBytes: number): Buffer {
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
