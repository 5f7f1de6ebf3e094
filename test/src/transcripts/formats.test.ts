import { describe, expect, it } from 'vitest';
import type { TranscriptUtterance } from '../../../src/events.js';
import { toSrt, toTxt, toVtt } from '../../../src/transcripts/formats.js';

const U = (text: string, startMs: number, endMs: number): TranscriptUtterance => ({
  text,
  startMs,
  endMs,
  words: [],
  channel: 'caller',
});

const CALL = [
  U('The quick brown fox', 480, 2120),
  U('jumps over the lazy dog.', 2200, 3440),
  U('Call me back at 5 <five> & thanks -> bye', 3_723_004, 3_725_999),
];

describe('transcript formats', () => {
  it('plain text', () => {
    expect(toTxt(CALL)).toBe(
      '[00:00:00] The quick brown fox\n' +
        '[00:00:02] jumps over the lazy dog.\n' +
        '[01:02:03] Call me back at 5 <five> & thanks -> bye\n',
    );
  });

  it('SubRip', () => {
    expect(toSrt(CALL)).toBe(
      '1\n00:00:00,480 --> 00:00:02,120\nThe quick brown fox\n\n' +
        '2\n00:00:02,200 --> 00:00:03,440\njumps over the lazy dog.\n\n' +
        '3\n01:02:03,004 --> 01:02:05,999\nCall me back at 5 <five> & thanks -> bye\n\n',
    );
  });

  it('WebVTT', () => {
    expect(toVtt(CALL)).toBe(
      'WEBVTT\n\n' +
        '00:00:00.480 --> 00:00:02.120\nThe quick brown fox\n\n' +
        '00:00:02.200 --> 00:00:03.440\njumps over the lazy dog.\n\n' +
        '01:02:03.004 --> 01:02:05.999\nCall me back at 5 &lt;five&gt; &amp; thanks -&gt; bye\n\n',
    );
  });

  it('empty transcripts and line breaks inside an utterance', () => {
    expect(toTxt([])).toBe('');
    expect(toSrt([])).toBe('');
    expect(toVtt([])).toBe('WEBVTT\n\n');
    expect(toSrt([U('one\n\ntwo', 0, 999)])).toBe('1\n00:00:00,000 --> 00:00:00,999\none two\n\n');
  });
});
