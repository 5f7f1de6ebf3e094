/**
 * Groups words into turns (utterances).
 *
 * With `Step` messages (stt-1b-en_fr), the semantic VAD decides, as Kyutai's Unmute client does
 * (`unmute/stt/speech_to_text.py`, `unmute_handler.py`): `prs[2]` (the 2-second pause head) is
 * smoothed by an attack/release EMA, the first 12 steps are ignored ("the pause prediction is all
 * over the place in the first few steps"), the value is reset to 0 when the first word of a new
 * turn arrives, and the turn ends when it exceeds 0.6.
 *
 * Without `Step` (stt-2.6b-en has no VAD heads) the fallback is word-gap timing: the turn ends
 * when no word has arrived for `gapMs`.
 *
 * Either way a turn is also cut when it is long (`reason: 'limit'`): at `maxWords` words (the turn
 * ends with that word), or when a word starts `maxMs` or more after the turn's first word (that
 * word opens the next turn). Without the cut a monologue with no pause became one utterance of
 * hundreds of words delivered at the hangup; with it, webhooks get text during long turns.
 */
import type { SttUtterance, SttWord } from './types.js';

/**
 * Unmute's `ExponentialMovingAverage`: `attack`/`release` are half-life times in seconds, used when
 * the value rises/falls: `alpha = 1 - exp(-dt / t · ln 2)`.
 */
export class AttackReleaseEma {
  value: number;
  readonly #attackS: number;
  readonly #releaseS: number;

  constructor(attackS: number, releaseS: number, initial = 0) {
    this.#attackS = attackS;
    this.#releaseS = releaseS;
    this.value = initial;
  }

  /** Folds in `sample` observed `dtS` seconds after the previous one; returns the new value. */
  update(dtS: number, sample: number): number {
    const t = sample > this.value ? this.#attackS : this.#releaseS;
    const alpha = 1 - Math.exp((-dtS / t) * Math.LN2);
    this.value = (1 - alpha) * this.value + alpha * sample;

    return this.value;
  }
}

export interface TurnDetectorOptions {
  /** End of turn when the smoothed pause probability exceeds this (Unmute: 0.6). */
  readonly pauseThreshold?: number;
  /** Steps ignored at the start of a stream (Unmute: 12). */
  readonly ignoreSteps?: number;
  /** Which `prs` head (0.5 s, 1 s, 2 s, 3 s horizons; Unmute uses 2). */
  readonly head?: number;
  /** EMA half-lives in seconds (Unmute: 0.01 / 0.01). */
  readonly attackS?: number;
  readonly releaseS?: number;
  /** Word-gap fallback (no Step messages): end of turn after this long without a new word, ms. */
  readonly gapMs?: number;
  /** A turn ends with its `maxWords`-th word (default 60). */
  readonly maxWords?: number;
  /** A word starting this long after the turn's first word opens a new turn, ms (default 20 000). */
  readonly maxMs?: number;
}

export class TurnDetector {
  readonly #threshold: number;
  readonly #ignoreSteps: number;
  readonly #head: number;
  readonly #gapMs: number;
  readonly #maxWords: number;
  readonly #maxMs: number;
  readonly #ema: AttackReleaseEma;
  readonly #emit: (u: SttUtterance) => void;
  #steps = 0;
  #open: SttWord[] = [];
  #lastWordAt = 0;
  #seq = 0;

  constructor(opts: TurnDetectorOptions, emit: (u: SttUtterance) => void) {
    this.#threshold = opts.pauseThreshold ?? 0.6;
    this.#ignoreSteps = opts.ignoreSteps ?? 12;
    this.#head = opts.head ?? 2;
    this.#gapMs = opts.gapMs ?? 1500;
    this.#maxWords = opts.maxWords ?? 60;
    this.#maxMs = opts.maxMs ?? 20_000;
    this.#ema = new AttackReleaseEma(opts.attackS ?? 0.01, opts.releaseS ?? 0.01, 1);
    this.#emit = emit;
  }

  /** True once a `Step` was seen: the VAD decides, not the word gap. */
  get usesVad(): boolean {
    return this.#steps > 0;
  }

  /** The smoothed pause probability (1.0 before any step). */
  get pause(): number {
    return this.#ema.value;
  }

  /** Words of the turn in progress. */
  get pending(): readonly SttWord[] {
    return this.#open;
  }

  /** A new word; `nowMs` is the stream clock at arrival (for the gap fallback). */
  word(w: SttWord, nowMs: number): void {
    const first = this.#open[0];
    if (first && w.startMs - first.startMs >= this.#maxMs) {
      this.#end('limit');
    }
    if (this.#open.length === 0) {
      // Unmute: "Ensure we don't stop after the first word if the VAD didn't have time to react".
      this.#ema.value = 0;
    }
    this.#open.push(w);
    this.#lastWordAt = nowMs;
    if (this.#open.length >= this.#maxWords) {
      this.#end('limit');
    }
  }

  /** A `Step`: updates the VAD and ends the turn when the pause is long enough. */
  step(prs: readonly number[], stepS = 0.08): void {
    this.#steps++;
    if (this.#steps <= this.#ignoreSteps) {
      return;
    }
    const p = prs[this.#head];
    if (p === undefined) {
      return;
    }
    this.#ema.update(stepS, p);
    if (this.#open.length > 0 && this.#ema.value > this.#threshold) {
      this.#end('vad');
    }
  }

  /** Periodic check for the word-gap fallback (only when no Step was ever seen). */
  tick(nowMs: number): void {
    if (!this.usesVad && this.#open.length > 0 && nowMs - this.#lastWordAt >= this.#gapMs) {
      this.#end('gap');
    }
  }

  /** Ends the turn in progress, if any (end of stream). */
  flush(): void {
    if (this.#open.length > 0) {
      this.#end('flush');
    }
  }

  #end(reason: SttUtterance['reason']): void {
    const words = this.#open;
    this.#open = [];
    const first = words[0];
    const last = words[words.length - 1];
    if (!first || !last) {
      return;
    }
    this.#emit({
      seq: ++this.#seq,
      text: words.map((w) => w.text).join(' '),
      startMs: first.startMs,
      endMs: Math.max(last.startMs, last.endMs ?? last.startMs),
      words,
      final: true,
      reason,
    });
  }
}
