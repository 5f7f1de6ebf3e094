/**
 * A deferred call (`stt.whenFull: "defer"`, no STT slot at the INVITE): its 24 kHz frames are
 * recorded from the answer (to `<storage.dir>/pending/<callId>.wav`, or memory when the disk
 * refuses), transcribed after the hangup once a slot is free (as long as it takes), and that
 * transcription is cancelled by the shutdown (the file then stays pending for the next start).
 * A call with two channels (a SIPREC recording session) has one per channel: the caller's file is
 * `<callId>.wav` as for any call, the callee's `<callId>.callee.wav` ({@link channelFileId}).
 */
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../logger.js';
import { PendingRecording, type PendingBudget } from '../recording/PendingRecording.js';
import {
  FRAME_MS,
  MemoryRecording,
  transcribeRecording,
  type FinalTranscript,
  type SttPool,
  type SttStreamDelegate,
} from '../stt/index.js';
import type { Channel } from '../transcripts/channelEvents.js';

/**
 * The name (without `.wav`) of a channel's audio file, in `<storage.dir>/pending/` (deferred) and
 * `<storage.dir>/recordings/` (`storage.recordAudio`): the call id for the caller (the one channel
 * of a SIP call), `<callId>.<channel>` for another.
 */
export function channelFileId(callId: string, channel: Channel): string {
  return channel === 'caller' ? callId : `${callId}.${channel}`;
}

/** The call and channel of a pending file's name ({@link channelFileId} read back). */
export function channelOfPendingFile(fileId: string): { callId: string; channel: Channel } {
  const dot = fileId.lastIndexOf('.');
  if (dot > 0 && fileId.slice(dot + 1) === 'callee') {
    return { callId: fileId.slice(0, dot), channel: 'callee' };
  }
  return { callId: fileId, channel: 'caller' };
}

export class DeferredCall {
  readonly #callId: string;
  readonly #log: Logger;
  readonly #recording: MemoryRecording | PendingRecording;
  /** Cancels the transcription in progress (shutdown). */
  #abort: AbortController | null = null;

  private constructor(callId: string, log: Logger, recording: MemoryRecording | PendingRecording) {
    this.#callId = callId;
    this.#log = log;
    this.#recording = recording;
  }

  /**
   * Starts recording a channel's audio (default the caller's) to
   * `<storageDir>/pending/<channelFileId>.wav` (memory if that fails).
   */
  static record(
    storageDir: string,
    callId: string,
    log: Logger,
    budget: PendingBudget | null,
    channel: Channel = 'caller',
  ): DeferredCall {
    let rec: MemoryRecording | PendingRecording;
    try {
      rec = PendingRecording.create(storageDir, channelFileId(callId, channel), budget);
      log.info({ file: rec.path, channel }, 'recording the deferred call to disk');
    } catch (err) {
      log.error({ err }, 'cannot record the deferred call to disk: keeping its audio in memory');
      rec = new MemoryRecording();
    }
    return new DeferredCall(callId, log, rec);
  }

  /**
   * One frame of caller audio (1920 samples at 24 kHz).
   * @returns false when the pending budget (`storage.pendingMaxBytes`) is spent: not recorded.
   */
  push(frame: Float32Array): boolean {
    if (this.#recording instanceof PendingRecording) {
      return this.#recording.push(frame);
    }
    this.#recording.push(frame);
    return true;
  }

  /** The recorded audio's duration: the call's. */
  get durationMs(): number {
    return this.#recording.frameCount * FRAME_MS;
  }

  /** True when the audio is on disk (it survives a shutdown and is transcribed at the next start). */
  get onDisk(): boolean {
    return this.#recording instanceof PendingRecording;
  }

  /**
   * After the hangup: waits for a slot (as long as it takes; `cancel()` or a stopped pool ends
   * the wait), streams the recording, flushes.
   * @returns null when cancelled by the shutdown (the recording is left as it is).
   */
  async transcribe(
    pool: SttPool,
    opts: { answeredWallMs: number; clock: Clock; onStreamOpen: (server: string) => void },
    delegate: SttStreamDelegate,
  ): Promise<FinalTranscript | null> {
    const recording = this.#recording;
    if (recording instanceof PendingRecording) {
      recording.finish();
    }
    const abort = new AbortController();
    this.#abort = abort;
    try {
      const final = await transcribeRecording(
        pool,
        recording,
        {
          callId: this.#callId,
          answeredWallMs: opts.answeredWallMs,
          clock: opts.clock,
          logger: this.#log,
          maxWaitMs: Number.POSITIVE_INFINITY,
          signal: abort.signal,
          onStreamOpen: opts.onStreamOpen,
        },
        delegate,
      );
      if (final === null) {
        this.#log.warn(
          recording instanceof PendingRecording
            ? { file: recording.path, audioMs: recording.audioMs }
            : { audioMs: recording.frameCount * FRAME_MS },
          recording instanceof PendingRecording
            ? 'deferred transcription cancelled by the shutdown: audio left pending, transcribed at the next start'
            : 'deferred transcription cancelled by the shutdown: the audio (in memory) is lost',
        );
      }
      return final;
    } finally {
      this.#abort = null;
    }
  }

  /** Cancels the transcription in progress, if any (shutdown past its deadline). */
  cancel(): void {
    this.#abort?.abort();
  }

  /**
   * Deletes the file once `stored()` resolves (the sinks have the transcript); nothing for audio
   * in memory (`stored` is then not called).
   */
  removeAfter(stored: () => Promise<void>): void {
    const rec = this.#recording;
    if (rec instanceof PendingRecording) {
      stored()
        .then(() => rec.remove())
        .catch((err: unknown) =>
          this.#log.error({ err, file: rec.path }, 'deferred recording not removed: it stays pending'),
        );
    }
  }
}
