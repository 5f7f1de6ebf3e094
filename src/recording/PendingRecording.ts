/**
 * The audio of a deferred call (`stt.whenFull: "defer"`), spilled to disk instead of memory:
 * `<storage.dir>/pending/<callId>.wav`, PCM16 mono at 24 kHz, exactly the frames the STT stream
 * would have received (1920 samples = 80 ms each, frame 0 = the answer). 24 kHz is what
 * `transcribeRecording` streams, so the file is read back without resampling (48 000 bytes per
 * second of call, 2.88 MB per minute, on disk; the process keeps one frame in memory).
 *
 * The file exists from the answer until the call's transcript is stored; one left behind (shutdown
 * before a slot freed up, or a crash) is transcribed at the next start (`PendingTranscriptions`).
 * Reading ignores the WAV header's sizes (patched only at `finish()`), so the file of a process
 * that died mid-call reads up to its last whole frame.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { FRAME_SAMPLES, SAMPLE_RATE, type RecordedAudio } from '../stt/index.js';
import { WavWriter } from '../../rtp/index.js';

const HEADER_BYTES = 44;
const FRAME_BYTES = FRAME_SAMPLES * 2;
const SUFFIX = '.wav';

/** `<storage.dir>/pending`. */
function pendingDir(storageDir: string): string {
  return join(storageDir, 'pending');
}

/** `<storage.dir>/pending/<callId>.wav`. */
export function pendingPath(storageDir: string, callId: string): string {
  return join(pendingDir(storageDir), `${callId}${SUFFIX}`);
}

/** Ids of the calls whose audio waits in `<storage.dir>/pending/`, oldest file first. */
export function listPendingRecordings(storageDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(pendingDir(storageDir));
  } catch {
    return [];
  }
  // A file deleted since the listing sorts first (and is then not found): no throw here.
  return names
    .filter((n) => n.endsWith(SUFFIX))
    .map((n) => ({
      id: n.slice(0, -SUFFIX.length),
      at: statSync(join(pendingDir(storageDir), n), { throwIfNoEntry: false })?.mtimeMs ?? 0,
    }))
    .sort((a, b) => a.at - b.at)
    .map((e) => e.id);
}

/**
 * The disk budget of `<storage.dir>/pending/` (`storage.pendingMaxBytes`): the bytes of every
 * pending file, counted from a listing at start, then as frames are written and files removed.
 * No new deferred call is taken once it is spent (`hasRoom`), and a deferred call in progress
 * stops recording at the budget (`PendingRecording.push` returns false: the call is hung up).
 */
export class PendingBudget {
  readonly maxBytes: number;
  #used: number;

  constructor(storageDir: string, maxBytes: number) {
    this.maxBytes = maxBytes;
    this.#used = 0;
    for (const id of listPendingRecordings(storageDir)) {
      this.#used += statSync(pendingPath(storageDir, id), { throwIfNoEntry: false })?.size ?? 0;
    }
  }

  /** Bytes of pending audio on disk. */
  get usedBytes(): number {
    return this.#used;
  }

  /** Whether a new deferred call may start: at least a minute of audio (2.88 MB) fits. */
  hasRoom(): boolean {
    return this.#used + MINUTE_BYTES <= this.maxBytes;
  }

  /** Takes `bytes` from the budget; false (nothing taken) when they do not fit. */
  take(bytes: number): boolean {
    if (this.#used + bytes > this.maxBytes) {
      return false;
    }
    this.#used += bytes;
    return true;
  }

  /** Gives back the bytes of a removed file. */
  release(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}

/** A minute of pending audio on disk (24 kHz PCM16). */
const MINUTE_BYTES = 60 * SAMPLE_RATE * 2;

export class PendingRecording implements RecordedAudio {
  readonly callId: string;
  readonly path: string;
  readonly #budget: PendingBudget | null;
  #writer: WavWriter | null;
  #frames: number;

  private constructor(
    callId: string,
    path: string,
    writer: WavWriter | null,
    frames: number,
    budget: PendingBudget | null,
  ) {
    this.callId = callId;
    this.path = path;
    this.#writer = writer;
    this.#frames = frames;
    this.#budget = budget;
  }

  /**
   * Starts the file of a call being answered (replaces one left by an earlier attempt).
   * @param budget the pending directory's budget: the file's bytes are taken from it as written.
   */
  static create(storageDir: string, callId: string, budget: PendingBudget | null = null): PendingRecording {
    mkdirSync(pendingDir(storageDir), { recursive: true });
    const path = pendingPath(storageDir, callId);
    budget?.release(statSync(path, { throwIfNoEntry: false })?.size ?? 0);
    budget?.take(HEADER_BYTES);
    return new PendingRecording(callId, path, new WavWriter(path, SAMPLE_RATE), 0, budget);
  }

  /** The file a previous run left for `callId` (read only; its bytes go back to `budget` on removal). */
  static open(storageDir: string, callId: string, budget: PendingBudget | null = null): PendingRecording {
    const path = pendingPath(storageDir, callId);
    const bytes = statSync(path).size;
    return new PendingRecording(
      callId,
      path,
      null,
      Math.floor(Math.max(0, bytes - HEADER_BYTES) / FRAME_BYTES),
      budget,
    );
  }

  /** Whole frames recorded. */
  get frameCount(): number {
    return this.#frames;
  }

  /** Call time covered by the recording (ms): from the answer to the hangup. */
  get audioMs(): number {
    return this.#frames * 80;
  }

  /**
   * Appends one 24 kHz frame (float samples in [-1, 1]).
   * @returns false, writing nothing, when the frame does not fit in the pending budget.
   */
  push(frame: Float32Array): boolean {
    if (!this.#writer) {
      throw new Error(`${this.path} is not being recorded`);
    }
    if (this.#budget && !this.#budget.take(frame.length * 2)) {
      return false;
    }
    this.#writer.writeFloat32(frame);
    this.#frames += frame.length / FRAME_SAMPLES;
    return true;
  }

  /** Ends the recording (patches the WAV header). Idempotent. */
  finish(): void {
    this.#writer?.close();
    this.#writer = null;
  }

  /** The frames from the file, read one at a time. */
  async *frames(): AsyncIterable<Float32Array> {
    this.finish();
    const fh = await open(this.path, 'r');
    try {
      const buf = Buffer.alloc(FRAME_BYTES);
      let pos = HEADER_BYTES;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, FRAME_BYTES, pos);
        if (bytesRead < FRAME_BYTES) {
          return;
        }
        pos += FRAME_BYTES;
        const frame = new Float32Array(FRAME_SAMPLES);
        for (let i = 0; i < FRAME_SAMPLES; i++) {
          const v = buf.readInt16LE(i * 2);
          frame[i] = v < 0 ? v / 32768 : v / 32767;
        }
        yield frame;
      }
    } finally {
      await fh.close();
    }
  }

  /** Deletes the file (the transcript is stored). */
  remove(): void {
    this.finish();
    const bytes = statSync(this.path, { throwIfNoEntry: false })?.size ?? 0;
    rmSync(this.path, { force: true });
    this.#budget?.release(bytes);
  }
}
