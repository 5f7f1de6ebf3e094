import { describe, expect, it } from 'vitest';
import type { TranscriptUtterance } from '../../../src/events.js';
import { toSrt, toTxt, toVtt } from '../../../src/transcripts/formats.js';

const U = (text: string, startMs: number, endMs: number, channel = 'caller'): TranscriptUtterance => ({
  text,
  startMs,
  endMs,
  words: [],
  channel,
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

  it('both sides of a call: interleaved by start time (stable), every line labelled', () => {
    // Published per channel as each stream finished its utterances: not in time order.
    const both = [
      U('Hello, how can I help?', 300, 1500, 'callee'),
      U('Thanks, bye.', 6000, 6800, 'callee'),
      U('I need a taxi.', 1800, 2900, 'caller'),
      U('Same start.', 6000, 6400, 'caller'),
    ];
    expect(toTxt(both)).toBe(
      '[00:00:00] callee: Hello, how can I help?\n' +
        '[00:00:01] caller: I need a taxi.\n' +
        '[00:00:06] callee: Thanks, bye.\n' +
        '[00:00:06] caller: Same start.\n',
    );
    expect(toSrt(both.slice(0, 3))).toBe(
      '1\n00:00:00,300 --> 00:00:01,500\ncallee: Hello, how can I help?\n\n' +
        '2\n00:00:01,800 --> 00:00:02,900\ncaller: I need a taxi.\n\n' +
        '3\n00:00:06,000 --> 00:00:06,800\ncallee: Thanks, bye.\n\n',
    );
    // WebVTT's voice span names the speaker (W3C WebVTT §4.2.2, "cue voice span").
    expect(toVtt([U('a <b>', 0, 500, 'caller'), U('ok', 100, 400, 'callee')])).toBe(
      'WEBVTT\n\n' +
        '00:00:00.000 --> 00:00:00.500\n<v caller>a &lt;b&gt;\n\n' +
        '00:00:00.100 --> 00:00:00.400\n<v callee>ok\n\n',
    );
  });
});
