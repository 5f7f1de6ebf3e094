import { describe, expect, it } from 'vitest';
import type { EventBody } from '../../../src/events.js';
import { UtteranceAssembler } from '../../../src/transcripts/UtteranceAssembler.js';

function setup(opts: { gapMs?: number; maxWords?: number } = {}): {
  a: UtteranceAssembler;
  out: EventBody[];
  said: () => string[];
} {
  const out: EventBody[] = [];
  const a = new UtteranceAssembler({ channel: 'caller', ...opts }, (b) => out.push(b));
  const said = (): string[] =>
    out.map((b) =>
      b.type === 'transcript.word'
        ? `w:${b.text}`
        : b.type === 'transcript.utterance'
          ? `u:${b.text} [${b.startMs}-${b.endMs}]`
          : b.type,
    );
  return { a, out, said };
}

describe('UtteranceAssembler', () => {
  it('closes a sentence when the STT reports the end of its last word', () => {
    const { a, out, said } = setup();
    // "The quick brown fox jumps over the lazy dog." with onsets at STT's 80 ms resolution.
    const onsets: [string, number][] = [
      ['The', 480],
      ['quick', 800],
      ['brown', 1120],
      ['fox', 1440],
      ['jumps', 1760],
      ['over', 2080],
      ['the', 2320],
      ['lazy', 2480],
      ['dog.', 2800],
    ];
    for (const [w, t] of onsets) {
      a.word(w, t);
    }
    expect(a.pending).toBe(9);
    a.endWord(3280);
    expect(said()).toEqual([
      ...onsets.map(([w]) => `w:${w}`),
      'u:The quick brown fox jumps over the lazy dog. [480-3280]',
    ]);
    const u = out[9];
    expect(u).toMatchObject({ type: 'transcript.utterance', channel: 'caller', final: true });
    expect(u?.type === 'transcript.utterance' ? u.words.slice(0, 2).concat(u.words.slice(-1)) : []).toEqual([
      { text: 'The', startMs: 480, endMs: 800 },
      { text: 'quick', startMs: 800, endMs: 1120 },
      { text: 'dog.', startMs: 2800, endMs: 3280 },
    ]);
    expect(a.pending).toBe(0);
  });

  it('splits on a pause between words', () => {
    const { a, said } = setup({ gapMs: 800 });
    a.word('hello', 0);
    a.endWord(400);
    a.word('again', 1199); // 799 ms after: same utterance
    a.word('world', 2400); // 'again' ends where 'world' starts (no EndWord): no pause
    a.endWord(2800);
    a.word('bye', 3600); // 800 ms after the end of 'world'
    a.flush(4000);
    expect(said()).toEqual([
      'w:hello',
      'w:again',
      'w:world',
      'u:hello again world [0-2800]',
      'w:bye',
      'u:bye [3600-4000]',
    ]);
  });

  it('closes on silence reported by progress, without waiting for an EndWord', () => {
    const { a, said } = setup({ gapMs: 800 });
    a.word('yes', 1000);
    a.progress(1799);
    expect(a.pending).toBe(1);
    a.progress(1800);
    expect(said()).toEqual(['w:yes', 'u:yes [1000-1400]']); // nominal 400 ms for an unreported end
    a.progress(5000);
    expect(said()).toHaveLength(2);
  });

  it('splits before a word that would pass maxWords', () => {
    const { a, said } = setup({ maxWords: 3 });
    for (const [i, w] of ['one', 'two', 'three', 'four'].entries()) {
      a.word(w, i * 100);
    }
    a.flush(1000);
    expect(said()).toEqual([
      'w:one',
      'w:two',
      'w:three',
      'u:one two three [0-300]',
      'w:four',
      'u:four [300-700]',
    ]);
  });

  it('ignores empty words, keeps non-final punctuation, and flushes nothing when idle', () => {
    const { a, said } = setup();
    a.flush();
    a.word('', 0);
    a.word('  ', 10);
    a.word('e.g', 100);
    a.endWord(300);
    a.word('"Really?"', 350);
    a.endWord(700);
    a.endWord(900); // a second EndWord with nothing pending
    expect(said()).toEqual(['w:e.g', 'w:"Really?"', 'u:e.g "Really?" [100-700]']);
  });
});
