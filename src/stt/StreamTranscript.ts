/**
 * What one stream makes of the server's words: numbered and mapped to call time (WordTimeline),
 * replayed duplicates dropped, turns (TurnDetector) closed into utterances, and every delegate
 * notification guarded (a delegate that throws is logged, never thrown back into the stream).
 */
import type { Logger } from '../../lib/logger.js';
import type { SttReconnectInfo, SttStreamDelegate, SttStreamStats } from './streamTypes.js';
import type { SttError } from './errors.js';
import { TurnDetector, type TurnDetectorOptions } from './TurnDetector.js';
import type { FinalTranscript, SttUtterance, SttWord } from './types.js';
import type { WordTimeline } from './WordTimeline.js';

export class StreamTranscript {
  /** The call's words and their mapping from server time to call time. */
  readonly timeline: WordTimeline;
  readonly #utterances: SttUtterance[] = [];
  readonly #turns: TurnDetector;
  readonly #delegate: SttStreamDelegate;
  readonly #logger: Logger;
  readonly #callId: string;
  readonly #stats: Pick<SttStreamStats, 'duplicatesDropped'>;

  constructor(
    timeline: WordTimeline,
    turns: TurnDetectorOptions,
    deps: {
      callId: string;
      logger: Logger;
      delegate: SttStreamDelegate;
      stats: Pick<SttStreamStats, 'duplicatesDropped'>;
    },
  ) {
    this.timeline = timeline;
    this.#callId = deps.callId;
    this.#logger = deps.logger;
    this.#delegate = deps.delegate;
    this.#stats = deps.stats;
    this.#turns = new TurnDetector(turns, (u) => {
      this.#utterances.push(u);
      this.#notify(() => this.#delegate.onUtterance?.(u));
    });
  }

  get words(): readonly SttWord[] {
    return this.timeline.words;
  }
  get utterances(): readonly SttUtterance[] {
    return this.#utterances;
  }

  /** A `Word` at `startS` seconds of the current connection's audio, arrived at clock time `nowMs`. */
  word(text: string, startS: number, nowMs: number): void {
    const before = this.timeline.duplicates;
    const word = this.timeline.word(text, startS);
    if (!word) {
      if (this.timeline.duplicates > before) {
        this.#stats.duplicatesDropped++;
        this.#logger.debug({ callId: this.#callId, startS }, 'stt: replayed word dropped');
      }

      return;
    }
    this.#turns.word(word, nowMs);
    this.#notify(() => this.#delegate.onWord?.(word));
  }

  /** An `EndWord` at `stopS` seconds of the current connection's audio. */
  endWord(stopS: number): void {
    const w = this.timeline.endWord(stopS);
    if (w) {
      this.#notify(() => this.#delegate.onWordEnd?.(w));
    }
  }

  /** A `Step`'s pause predictions (the VAD). */
  step(prs: readonly number[]): void {
    this.#turns.step(prs);
  }

  /** A frame went out at clock time `nowMs` (the word-gap turn rule). */
  tick(nowMs: number): void {
    this.#turns.tick(nowMs);
  }

  /** The end of the stream ends the open turn (`reason: 'flush'`). */
  endTurn(): void {
    this.#turns.flush();
  }

  error(err: SttError): void {
    this.#notify(() => this.#delegate.onError?.(err));
  }

  reconnected(info: SttReconnectInfo): void {
    this.#notify(() => this.#delegate.onReconnect?.(info));
  }

  /** The transcript as it stands. */
  snapshot(complete: boolean, audioMs: number, reconnects: number): FinalTranscript {
    return {
      utterances: this.#utterances,
      words: this.timeline.words,
      text: this.#utterances.map((u) => u.text).join(' '),
      complete,
      audioMs,
      reconnects,
    };
  }

  #notify(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#logger.error({ callId: this.#callId, err }, 'stt: delegate threw');
    }
  }
}
