/**
 * Groups the words of one STT stream into utterances, publishing every word as it comes and every
 * utterance once it is over.
 *
 * Kyutai's STT sends `Word { text, start_time }` as a word starts and, only sometimes,
 * `EndWord { stop_time }` for the latest word (not one per word; after the last word of a turn it
 * may come only when the speaker talks again, or never). The text carries punctuation and
 * capitals. So an utterance ends:
 * - when the next word starts `gapMs` or more after the previous one ended (a pause);
 * - when `progress(ms)` reports the audio has been processed `gapMs` past the last word (its end
 *   if known, else its start) with no new word: silence, without waiting for an `EndWord`;
 * - when an `EndWord` closes a word that ends a sentence (`.`, `?`, `!`, `…`, maybe followed by a
 *   closing quote or bracket);
 * - before a word that would make it longer than `maxWords`;
 * - at `flush()`: end of turn (the VAD says so) or end of the stream.
 * Times are milliseconds on the call's timeline (since answer); the caller converts STT seconds.
 * A word whose end is never reported ends where the next word starts, or `NOMINAL_WORD_MS` after
 * its start (never beyond the time the stream has reached).
 */
import type { EventBody, TranscriptWord } from '../events.js';

export interface UtteranceAssemblerOptions {
  /** Which side is speaking (`caller`). */
  channel: string;
  /** A pause this long ends an utterance (default 800 ms). */
  gapMs?: number;
  /** An utterance never grows beyond this many words (default 50). */
  maxWords?: number;
}

/** The length given to a last word whose end the STT never reported. */
export const NOMINAL_WORD_MS = 400;

const SENTENCE_END = /[.?!…]["'”’)\]]*$/;

interface PendingWord {
  text: string;
  startMs: number;
  endMs?: number;
}

export class UtteranceAssembler {
  readonly #opts: Required<UtteranceAssemblerOptions>;
  readonly #publish: (body: EventBody) => void;
  #words: PendingWord[] = [];

  /** @param publish receives `transcript.word` and `transcript.utterance` bodies (e.g. `(b) => bus.publish(callId, b)`). */
  constructor(opts: UtteranceAssemblerOptions, publish: (body: EventBody) => void) {
    this.#opts = { gapMs: 800, maxWords: 50, ...opts };
    this.#publish = publish;
  }

  /** Words waiting for the end of their utterance. */
  get pending(): number {
    return this.#words.length;
  }

  /** A word starts (STT `Word`); empty words are ignored. Publishes `transcript.word` at once. */
  word(text: string, startMs: number): void {
    const t = text.trim();
    if (!t) {
      return;
    }
    const last = this.#last();
    if (last) {
      last.endMs ??= Math.max(last.startMs, startMs);
      if (startMs - last.endMs >= this.#opts.gapMs) {
        this.#emit(startMs);
      }
    }
    if (this.#words.length >= this.#opts.maxWords) {
      this.#emit(startMs);
    }
    this.#words.push({ text: t, startMs });
    this.#publish({ type: 'transcript.word', text: t, startMs, channel: this.#opts.channel });
  }

  /** The latest word ended (STT `EndWord`); a sentence-ending word then closes the utterance. */
  endWord(endMs: number): void {
    const last = this.#last();
    if (!last) {
      return;
    }
    last.endMs = Math.max(last.startMs, endMs);
    if (SENTENCE_END.test(last.text)) {
      this.#emit(endMs);
    }
  }

  /** The stream has been processed up to `ms`: a long enough silence closes the utterance. */
  progress(ms: number): void {
    const last = this.#last();
    if (last && ms - (last.endMs ?? last.startMs) >= this.#opts.gapMs) {
      this.#emit(ms);
    }
  }

  /** Closes the current utterance now (end of turn, end of stream); `ms` is how far the stream got. */
  flush(ms?: number): void {
    const last = this.#last();
    this.#emit(ms ?? (last ? last.startMs + NOMINAL_WORD_MS : 0));
  }

  #last(): PendingWord | undefined {
    return this.#words[this.#words.length - 1];
  }

  /** Publishes the pending words as one utterance; `nowMs` bounds a last word with no known end. */
  #emit(nowMs: number): void {
    const ws = this.#words;
    if (ws.length === 0) {
      return;
    }
    this.#words = [];
    const words: TranscriptWord[] = ws.map((w, i) => ({
      text: w.text,
      startMs: w.startMs,
      endMs:
        w.endMs ?? ws[i + 1]?.startMs ?? Math.max(w.startMs, Math.min(nowMs, w.startMs + NOMINAL_WORD_MS)),
    }));
    const first = words[0] as TranscriptWord;
    const last = words[words.length - 1] as TranscriptWord;
    this.#publish({
      type: 'transcript.utterance',
      text: words.map((w) => w.text).join(' '),
      startMs: first.startMs,
      endMs: last.endMs ?? last.startMs,
      words,
      channel: this.#opts.channel,
      final: true,
    });
  }
}
