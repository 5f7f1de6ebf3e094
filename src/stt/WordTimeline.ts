/**
 * The words of one call in call time, across connections: numbering, mapping of each connection's
 * server times (see timing.ts), `EndWord` attached to the latest word of the same connection, and
 * the removal of words repeated by a failover replay.
 */
import { FRAME_MS } from './protocol.js';
import { callMsToFrame, isReplayDuplicate, serverToCallMs } from './timing.js';
import type { SttWord } from './types.js';

export class WordTimeline {
  readonly words: SttWord[] = [];
  /** Replayed words dropped as duplicates. */
  duplicates = 0;
  readonly #offsetMs: number;
  readonly #wallAtAnswer: number;
  readonly #toleranceMs: number;
  #base = 0;
  #dedupUntilMs = -1;
  #last: SttWord | null = null;
  #lastOfLink: SttWord | null = null;

  /**
   * @param offsetMs - call time of frame 0.
   * @param wallAtAnswer - wall clock (epoch ms) of the answer.
   * @param toleranceMs - duplicate tolerance after a replay.
   */
  constructor(offsetMs: number, wallAtAnswer: number, toleranceMs: number) {
    this.#offsetMs = offsetMs;
    this.#wallAtAnswer = wallAtAnswer;
    this.#toleranceMs = toleranceMs;
  }

  /** Call frame of the last delivered word's onset (null before the first word). */
  get lastWordFrame(): number | null {
    return this.#last ? callMsToFrame(this.#offsetMs, this.#last.startMs) : null;
  }

  /**
   * A new connection whose first frame is call frame `baseFrame`; its words before call frame
   * `dropFrame` may repeat delivered ones.
   */
  rebase(baseFrame: number, dropFrame: number): void {
    this.#base = baseFrame;
    this.#dedupUntilMs = this.#offsetMs + dropFrame * FRAME_MS;
    this.#lastOfLink = null;
  }

  /**
   * A `Word` from the current connection.
   * @returns the new word, or null (the empty first Word moshi-server sends; a replayed duplicate).
   */
  word(text: string, startS: number): SttWord | null {
    if (text === '') {
      // moshi-server sends an empty first Word (Unmute skips it).
      return null;
    }
    const startMs = serverToCallMs(this.#offsetMs, this.#base, startS);
    if (isReplayDuplicate(startMs, this.#dedupUntilMs, this.#last?.startMs ?? null, this.#toleranceMs)) {
      this.duplicates++;
      this.#lastOfLink = null;

      return null;
    }
    // `endMs` is there from the start (set by `endWord`): added later, it would give every word its
    // own out-of-object property storage (105 → 73 B per word object in Node 20, kept for the call).
    const word: SttWord = {
      seq: this.words.length + 1,
      text,
      startMs,
      endMs: undefined,
      wallMs: this.#wallAtAnswer + startMs,
    };
    this.words.push(word);
    this.#last = word;
    this.#lastOfLink = word;

    return word;
  }

  /**
   * An `EndWord` from the current connection: the end of its latest word.
   * @returns that word with `endMs` set, or null when there is none to end.
   */
  endWord(stopS: number): SttWord | null {
    const w = this.#lastOfLink;
    const endMs = serverToCallMs(this.#offsetMs, this.#base, stopS);
    if (!w || w.endMs !== undefined || endMs < w.startMs) {
      return null;
    }
    w.endMs = endMs;

    return w;
  }
}
