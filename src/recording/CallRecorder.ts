/**
 * Optional recording of each call's audio (config `storage.recordAudio`) to
 * `<storage.dir>/recordings/<callId>.wav`, PCM16 mono at the rate of the first frame written:
 * the call wiring passes either the 24 kHz float frames it sends to the STT or the decoded 8 kHz
 * PCM. A call's file is finished by `stop(callId)` (on `ending`), or by `close()` at shutdown.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import { WavWriter } from '../../rtp/index.js';

const SAFE_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Where a call's recording lives under `storage.dir`. */
export function recordingPath(storageDir: string, callId: string): string {
  if (!SAFE_ID.test(callId) || callId.startsWith('.')) {
    throw new RangeError(`call id ${JSON.stringify(callId)} is not usable as a file name`);
  }
  return join(storageDir, 'recordings', `${callId}.wav`);
}

export class CallRecorder {
  readonly dir: string;
  readonly #writers = new Map<string, WavWriter>();
  readonly #logger: Logger;

  readonly #storageDir: string;

  constructor(storageDir: string, logger: Logger) {
    this.#storageDir = storageDir;
    this.dir = join(storageDir, 'recordings');
    this.#logger = logger;
    mkdirSync(this.dir, { recursive: true });
  }

  /** The file of a call's recording. */
  pathOf(callId: string): string {
    return recordingPath(this.#storageDir, callId);
  }

  /** Appends 24 kHz float frames (the STT's input). */
  writeFloat24k(callId: string, frame: Float32Array): void {
    this.#writer(callId, 24_000).writeFloat32(frame);
  }

  /** Appends decoded 8 kHz PCM16. */
  writePcm8k(callId: string, pcm: Int16Array): void {
    this.#writer(callId, 8000).writeInt16(pcm);
  }

  /** Whether the call's file is still being written. */
  isRecording(callId: string): boolean {
    return this.#writers.has(callId);
  }

  /** Finishes a call's file (no-op when nothing was recorded). */
  stop(callId: string): void {
    const w = this.#writers.get(callId);
    if (w) {
      this.#writers.delete(callId);
      w.close();
      this.#logger.debug({ callId, path: w.path, samples: w.samples }, 'recording finished');
    }
  }

  /** Finishes every open recording. */
  close(): void {
    for (const id of [...this.#writers.keys()]) {
      this.stop(id);
    }
  }

  #writer(callId: string, rate: number): WavWriter {
    let w = this.#writers.get(callId);
    if (!w) {
      w = new WavWriter(this.pathOf(callId), rate);
      this.#writers.set(callId, w);
    } else if (w.sampleRate !== rate) {
      throw new RangeError(`call ${callId} is recorded at ${w.sampleRate} Hz, not ${rate} Hz`);
    }
    return w;
  }
}
