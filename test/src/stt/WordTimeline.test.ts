import { describe, expect, it } from 'vitest';
import { WordTimeline } from '../../../src/stt/WordTimeline.js';

describe('WordTimeline', () => {
  it('numbers words, skips the empty first Word and attaches EndWord to the latest word only', () => {
    const t = new WordTimeline(0, 1_000_000, 160);
    expect(t.endWord(0.5)).toBeNull();
    expect(t.word('', 0)).toBeNull();
    const a = t.word('Hello,', 1.04);
    expect(a).toEqual({ seq: 1, text: 'Hello,', startMs: 1040, wallMs: 1_001_040 });
    // An EndWord before the word's start is not its end.
    expect(t.endWord(0.8)).toBeNull();
    expect(t.endWord(1.36)?.endMs).toBe(1360);
    // Only once.
    expect(t.endWord(1.6)).toBeNull();
    expect(t.word("I'd", 1.52)?.seq).toBe(2);
    expect(t.lastWordFrame).toBe(19);
  });

  it('after a rebase maps the new connection from its first frame and drops repeats', () => {
    const t = new WordTimeline(0, 0, 160);
    t.word('one', 1.6);
    t.word('two', 3.2);
    // Replay from call frame 30 (2.4 s), dropped at frame 50 (4 s).
    t.rebase(30, 50);
    expect(t.word('two', 0.8)).toBeNull();
    // The dropped repeat's EndWord does not touch the delivered 'two'.
    expect(t.endWord(1.0)).toBeNull();
    expect(t.word('three', 1.28)).toMatchObject({ seq: 3, startMs: 3680 });
    expect(t.duplicates).toBe(1);
    expect(t.words.map((w) => w.text)).toEqual(['one', 'two', 'three']);
  });
});
