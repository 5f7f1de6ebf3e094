/**
 * Deferred transcriptions a previous run left unfinished (`<storage.dir>/pending/<callId>.wav`,
 * see `recording/PendingRecording.ts`): at start every such call is taken back (`ending` again,
 * `CallRegistry.resumePending`), then, one call at a time, its audio is streamed to the STT when
 * a slot is free; the words and utterances are published as `transcript.word` /
 * `transcript.utterance` (only those after what an earlier attempt already stored), then
 * `call.ended` with the whole transcript (unless an earlier run published it), and the file is
 * deleted. A stop cancels the one in progress: it stays pending for the next start.
 *
 * A SIPREC recording session has one file per deferred channel (`<callId>.wav` for the caller,
 * `<callId>.callee.wav`; see `DeferredCall.channelFileId`): its channels are transcribed one
 * after the other, each one's words labelled with it and published only after what an earlier
 * attempt stored on that channel; the call ends after the last, and its files go together.
 */
import type { Clock } from '../../lib/clock.js';
import type { CallRegistry } from './CallRegistry.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import {
  listPendingRecordings,
  PendingRecording,
  type PendingBudget,
} from '../recording/PendingRecording.js';
import {
  transcribeRecording,
  type FinalTranscript,
  type SttPool,
  type SttStreamDelegate,
} from '../stt/index.js';
import { CHANNELS, channelUtterance, channelWord, type Channel } from '../transcripts/channelEvents.js';
import { channelOfPendingFile, channelFileId } from './DeferredCall.js';
import type { TranscriptBus } from '../transcripts/TranscriptBus.js';

interface PendingTranscriptionsOptions {
  readonly storageDir: string;
  /** The files' bytes go back to it as they are removed. */
  readonly budget?: PendingBudget;
  readonly calls: CallRegistry;
  readonly bus: TranscriptBus;
  readonly pool: SttPool;
  readonly metrics: Metrics;
  /** Monotonic clock for the STT. */
  readonly clock: Clock;
  readonly logger: Logger;
  /** Poll period while waiting for a free slot (default 2000 ms). */
  readonly retryMs?: number;
}

/** A call taken back: what an earlier run published, and its channels' files. */
interface PendingCall {
  readonly id: string;
  readonly endedPublished: boolean;
  /** Per channel: the call time its stored utterances reach (ms). */
  readonly transcribedUntilMs: Readonly<Record<string, number>>;
  readonly answeredWall: number;
  /** The channels with a pending file, caller first. */
  readonly channels: Channel[];
}

export class PendingTranscriptions {
  readonly #o: PendingTranscriptionsOptions;
  readonly #abort = new AbortController();
  #run: Promise<void> = Promise.resolve();
  /** Calls completed by this run (ids, in order). */
  readonly completed: string[] = [];

  constructor(opts: PendingTranscriptionsOptions) {
    this.#o = opts;
  }

  /**
   * Takes back every pending call and starts transcribing them in the background.
   * @returns the ids of the calls taken back.
   */
  start(): string[] {
    const { calls, logger, storageDir } = this.#o;
    // A call's files together, in the order of its first (oldest first).
    const files = new Map<string, Channel[]>();
    for (const fileId of listPendingRecordings(storageDir)) {
      const { callId, channel } = channelOfPendingFile(fileId);
      files.set(callId, [...(files.get(callId) ?? []), channel]);
    }
    const queue: PendingCall[] = [];
    for (const [id, channels] of files) {
      const r = calls.resumePending(id);
      if (!r?.record.answeredAt) {
        logger.warn({ callId: id, storageDir }, 'pending recording of an unknown call: left in place');
        continue;
      }
      queue.push({
        id,
        endedPublished: r.endedPublished,
        transcribedUntilMs: r.channelsTranscribedUntilMs,
        answeredWall: Date.parse(r.record.answeredAt),
        channels: CHANNELS.filter((c) => channels.includes(c)),
      });
    }
    if (queue.length > 0) {
      logger.info({ calls: queue.length }, 'transcribing the audio of deferred calls left by the last run');
    }
    this.#run = (async () => {
      for (const item of queue) {
        if (this.#abort.signal.aborted) {
          this.#park(item.id);
          continue;
        }
        await this.#transcribe(item);
      }
    })();
    return queue.map((q) => q.id);
  }

  /** Resolves when every pending call taken at start is done (or parked again by `stop()`). */
  async settled(): Promise<void> {
    await this.#run;
  }

  /** Cancels the transcription in progress (left pending for the next start). */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#run;
  }

  /** One call's channels, one after the other; `ended` after the last, then its files go. */
  async #transcribe(item: PendingCall): Promise<void> {
    const { calls, logger, storageDir, bus } = this.#o;
    const log = logger.child({ callId: item.id });
    const recordings = item.channels.map((channel) => ({
      channel,
      recording: PendingRecording.open(storageDir, channelFileId(item.id, channel), this.#o.budget ?? null),
    }));
    const durationMs = Math.max(...recordings.map((r) => r.recording.audioMs));
    const end = (): void => {
      calls.transition(item.id, 'ended', { durationMs, endedPublished: item.endedPublished });
    };
    let failed = false;
    for (const { channel, recording } of recordings) {
      try {
        const final = await this.#transcribeChannel(item, channel, recording, log);
        if (final === null) {
          log.warn(
            { file: recording.path },
            'pending transcription cancelled by the shutdown: left for the next start',
          );
          this.#park(item.id);
          return;
        }
        log.info(
          { channel, words: final.words.length, complete: final.complete, audioMs: recording.audioMs },
          'pending transcription done',
        );
      } catch (err) {
        // The files stay for the next start; the call ends with what it has.
        log.error({ err, file: recording.path }, 'pending transcription failed: audio kept');
        failed = true;
      }
    }
    end();
    if (failed) {
      return;
    }
    this.completed.push(item.id);
    await bus.flush();
    for (const { recording } of recordings) {
      recording.remove();
    }
  }

  /** One channel's file to the STT, its words labelled with it; null when cancelled. */
  async #transcribeChannel(
    item: PendingCall,
    channel: Channel,
    recording: PendingRecording,
    log: Logger,
  ): Promise<FinalTranscript | null> {
    const { pool, metrics, clock } = this.#o;
    let server: string | null = null;
    try {
      return await transcribeRecording(
        pool,
        recording,
        {
          callId: item.id,
          answeredWallMs: item.answeredWall,
          clock,
          logger: log,
          maxWaitMs: Number.POSITIVE_INFINITY,
          signal: this.#abort.signal,
          ...(this.#o.retryMs !== undefined ? { retryMs: this.#o.retryMs } : {}),
          onStreamOpen: (s) => {
            server = s;
            metrics.sttStreams.inc({ server: s });
          },
        },
        this.#delegate(item.id, channel, item.transcribedUntilMs[channel] ?? 0, (to) => {
          if (server !== null) {
            metrics.sttStreams.dec({ server });
          }
          server = to;
          metrics.sttStreams.inc({ server: to });
        }),
      );
    } finally {
      if (server !== null) {
        metrics.sttStreams.dec({ server });
      }
    }
  }

  #park(id: string): void {
    if (this.#o.calls.active().some((r) => r.id === id)) {
      this.#o.calls.park(id);
    }
  }

  /** A channel's words and utterances onto the bus, skipping what an earlier attempt published. */
  #delegate(
    callId: string,
    channel: Channel,
    skipBeforeMs: number,
    onMove: (to: string) => void,
  ): SttStreamDelegate {
    const { bus, logger } = this.#o;
    const fresh = (startMs: number): boolean => startMs >= skipBeforeMs && bus.isOpen(callId);
    return {
      onWord: (w) => {
        if (fresh(w.startMs)) {
          bus.publish(callId, channelWord(channel, w));
        }
      },
      onUtterance: (u) => {
        if (fresh(u.startMs)) {
          bus.publish(callId, channelUtterance(channel, u));
        }
      },
      onError: (err) => logger.warn({ callId, err, code: err.code }, 'stt error'),
      onReconnect: (info) => onMove(info.to),
    };
  }
}
