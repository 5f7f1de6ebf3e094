import { describe, expect, it } from 'vitest';
import { AttackReleaseEma, TurnDetector } from '../../../src/stt/TurnDetector.js';
import type { SttUtterance, SttWord } from '../../../src/stt/types.js';

const word = (seq: number, text: string, startMs: number): SttWord => ({
  seq,
  text,
  startMs,
  wallMs: startMs,
});

describe('AttackReleaseEma (Unmute exponential_moving_average)', () => {
  it('follows the half-life vector of Unmute’s own test', () => {
    // Unmute test_ema: attack 0.1 s, release 0.5 s.
    const ema = new AttackReleaseEma(0.1, 0.5);
    expect(ema.update(1.0, 0)).toBe(0);
    expect(ema.update(0.1, 1)).toBeCloseTo(0.5, 12);
    ema.update(0.25, 0);
    expect(ema.update(0.25, 0)).toBeCloseTo(0.25, 12);
    expect(ema.update(0.1, 0.75)).toBeCloseTo(0.5, 12);
    expect(ema.update(1e9, 1)).toBeCloseTo(1, 12);
  });
});

describe('TurnDetector', () => {
  it('ignores the first 12 steps, then ends the turn when smoothed prs[2] exceeds 0.6', () => {
    const out: SttUtterance[] = [];
    const t = new TurnDetector({}, (u) => out.push(u));
    t.word(word(1, 'hello', 0), 0);
    for (let i = 0; i < 12; i++) {
      t.step([0.99, 0.99, 0.99, 0.99]);
    }
    expect(out).toEqual([]);
    t.step([0.1, 0.1, 0.55, 0.1]);
    expect(out).toEqual([]);
    t.step([0.1, 0.1, 0.7, 0.1]);
    expect(out.map((u) => [u.seq, u.text, u.reason])).toEqual([[1, 'hello', 'vad']]);
  });

  it('resets the pause to 0 when the first word of a turn arrives', () => {
    const out: SttUtterance[] = [];
    // Half-life 80 ms: one step moves halfway.
    const t = new TurnDetector({ ignoreSteps: 0, attackS: 0.08, releaseS: 0.08 }, (u) => out.push(u));
    t.step([0, 0, 1, 0]);
    expect(t.pause).toBe(1);
    t.word(word(1, 'a', 0), 0);
    expect(t.pause).toBe(0);
    t.step([0, 0, 1, 0]);
    expect(t.pause).toBeCloseTo(0.5, 12);
    expect(out).toEqual([]);
    t.step([0, 0, 1, 0]);
    expect(t.pause).toBeCloseTo(0.75, 12);
    expect(out.map((u) => u.text)).toEqual(['a']);
  });

  it('uses the end of the last word when known, else its start', () => {
    const out: SttUtterance[] = [];
    const t = new TurnDetector({}, (u) => out.push(u));
    const a = word(1, 'a', 100);
    const b = word(2, 'b', 500);
    t.word(a, 0);
    t.word(b, 0);
    t.flush();
    b.endMs = 700;
    t.word(word(3, 'c', 900), 0);
    const d = word(4, 'd', 1300);
    d.endMs = 1600;
    t.word(d, 0);
    t.flush();
    expect(out.map((u) => [u.text, u.startMs, u.endMs, u.reason])).toEqual([
      ['a b', 100, 500, 'flush'],
      ['c d', 900, 1600, 'flush'],
    ]);
  });

  it('without steps falls back to the word gap', () => {
    const out: SttUtterance[] = [];
    const t = new TurnDetector({ gapMs: 1000 }, (u) => out.push(u));
    t.word(word(1, 'a', 0), 5000);
    t.word(word(2, 'b', 300), 5300);
    t.tick(6299);
    expect(out).toEqual([]);
    t.tick(6300);
    expect(out.map((u) => [u.text, u.reason])).toEqual([['a b', 'gap']]);
    expect(t.usesVad).toBe(false);
  });
});

describe('TurnDetector: a monologue without a pause', () => {
  /** 216 words, one every `everyMs`, with Steps that never see a pause (VAD stays below 0.6). */
  function monologue(opts: ConstructorParameters<typeof TurnDetector>[0], everyMs: number): SttUtterance[] {
    const out: SttUtterance[] = [];
    const t = new TurnDetector(opts, (u) => out.push(u));
    for (let i = 0; i < 216; i++) {
      t.word(word(i + 1, `w${i + 1}`, i * everyMs), i * everyMs);
      t.step([0.1, 0.1, 0.1, 0.1]);
      t.tick(i * everyMs);
    }
    t.flush();
    return out;
  }

  it('cuts an utterance at 60 words by default (250 ms apart: 60 words span 14.75 s)', () => {
    const out = monologue({}, 250);
    // Hand-counted: 216 = 60 + 60 + 60 + 36; each cut comes with the 60th word, not at hangup.
    expect(out.map((u) => [u.words.length, u.startMs, u.endMs, u.reason])).toEqual([
      [60, 0, 14_750, 'limit'],
      [60, 15_000, 29_750, 'limit'],
      [60, 30_000, 44_750, 'limit'],
      [36, 45_000, 53_750, 'flush'],
    ]);
    expect(out[1]?.text.split(' ')[0]).toBe('w61');
  });

  it('cuts an utterance at 20 s by default (600 ms apart: the word at 20.4 s opens the next one)', () => {
    const out = monologue({}, 600);
    // Words at 0, 0.6, …, 19.8 s (34 words) make the first utterance; the 35th starts at 20.4 s,
    // past 20 s from the first word, and opens the next: 216 = 6 × 34 + 12.
    expect(out.map((u) => u.words.length)).toEqual([34, 34, 34, 34, 34, 34, 12]);
    expect(out.slice(0, 2).map((u) => [u.startMs, u.endMs, u.reason])).toEqual([
      [0, 19_800, 'limit'],
      [20_400, 40_200, 'limit'],
    ]);
  });

  it('takes its limits from the options', () => {
    expect(monologue({ maxWords: 100, maxMs: 60_000 }, 250).map((u) => u.words.length)).toEqual([
      100, 100, 16,
    ]);
  });
});
