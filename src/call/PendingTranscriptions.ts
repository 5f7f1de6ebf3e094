/**
 * Deferred transcriptions a previous run left unfinished (`<storage.dir>/pending/<callId>.wav`,
 * see `recording/PendingRecording.ts`): at start every such call is taken back (`ending` again,
 * `CallRegistry.resumePending`), then, one call at a time, its audio is streamed to the STT when
 * a slot is free; the words and utterances are published as `transcript.word` /
 * `transcript.utterance` (only those after what an earlier attempt already stored), then
 * `call.ended` with the whole transcript (unless an earlier run published it), and the file is
 * deleted. A stop cancels the one in progress: it stays pending for the next start.
 */
import type { Clock } from '../../lib/clock.js';
import type { CallRegistry } from '../calls/CallRegistry.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import {
  listPendingRecordings,
  PendingRecording,
  type PendingBudget,
} from '../recording/PendingRecording.js';
import { transcribeRecording, type SttPool, type SttStreamDelegate } from '../stt/index.js';
import { channelUtterance, channelWord } from '../transcripts/channelEvents.js';
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
    const queue: { id: string; endedPublished: boolean; transcribedUntilMs: number; answeredWall: number }[] =
      [];
    for (const id of listPendingRecordings(storageDir)) {
      const r = calls.resumePending(id);
      if (!r?.record.answeredAt) {
        logger.warn({ callId: id, storageDir }, 'pending recording of an unknown call: left in place');
        continue;
      }
      queue.push({
        id,
        endedPublished: r.endedPublished,
        transcribedUntilMs: r.transcribedUntilMs,
        answeredWall: Date.parse(r.record.answeredAt),
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

  async #transcribe(item: {
    id: string;
    endedPublished: boolean;
    transcribedUntilMs: number;
    answeredWall: number;
  }): Promise<void> {
    const { calls, pool, metrics, clock, logger, storageDir, bus } = this.#o;
    const log = logger.child({ callId: item.id });
    const recording = PendingRecording.open(storageDir, item.id, this.#o.budget ?? null);
    let server: string | null = null;
    try {
      const final = await transcribeRecording(
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
        this.#delegate(item.id, item.transcribedUntilMs, (to) => {
          if (server !== null) {
            metrics.sttStreams.dec({ server });
          }
          server = to;
          metrics.sttStreams.inc({ server: to });
        }),
      );
      if (final === null) {
        log.warn(
          { file: recording.path },
          'pending transcription cancelled by the shutdown: left for the next start',
        );
        this.#park(item.id);
        return;
      }
      log.info(
        { words: final.words.length, complete: final.complete, audioMs: recording.audioMs },
        'pending transcription done',
      );
      calls.transition(item.id, 'ended', {
        durationMs: recording.audioMs,
        endedPublished: item.endedPublished,
      });
      this.completed.push(item.id);
      await bus.flush();
      recording.remove();
    } catch (err) {
      // The file stays for the next start; the call ends with what it has.
      log.error({ err, file: recording.path }, 'pending transcription failed: audio kept');
      calls.transition(item.id, 'ended', {
        durationMs: recording.audioMs,
        endedPublished: item.endedPublished,
      });
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

  /** Words and utterances onto the bus, skipping what an earlier attempt already published. */
  #delegate(callId: string, skipBeforeMs: number, onMove: (to: string) => void): SttStreamDelegate {
    const { bus, logger } = this.#o;
    const fresh = (startMs: number): boolean => startMs >= skipBeforeMs && bus.isOpen(callId);
    return {
      onWord: (w) => {
        if (fresh(w.startMs)) {
          bus.publish(callId, channelWord('caller', w));
        }
      },
      onUtterance: (u) => {
        if (fresh(u.startMs)) {
          bus.publish(callId, channelUtterance('caller', u));
        }
      },
      onError: (err) => logger.warn({ callId, err, code: err.code }, 'stt error'),
      onReconnect: (info) => onMove(info.to),
    };
  }
}
