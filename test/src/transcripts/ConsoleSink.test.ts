import { describe, expect, it } from 'vitest';
import type { CallEvent, CallMeta } from '../../../src/events.js';
import { callerName, ConsoleSink } from '../../../src/transcripts/ConsoleSink.js';
import { logSink } from '../logSink.js';

const META: CallMeta = {
  sipCallId: 'id@host',
  from: '"Alice Smith" <sip:alice@example.com>;tag=1928301774',
  to: 'sip:1001@192.0.2.10',
  account: null,
  transport: 'udp',
  codec: 'PCMU',
  source: '192.0.2.4:5060',
};
const c = (seq: number, at: string, offsetMs: number) => ({ seq, callId: 'c1', at, offsetMs, call: META });

const EVENTS: CallEvent[] = [
  { type: 'call.started', ...c(1, '2026-02-03T09:00:02.000Z', 0) },
  {
    type: 'transcript.word',
    text: 'the',
    startMs: 3100,
    channel: 'caller',
    ...c(2, '2026-02-03T09:00:05.500Z', 3500),
  },
  {
    type: 'transcript.word',
    text: 'fox',
    startMs: 3400,
    channel: 'caller',
    ...c(3, '2026-02-03T09:00:05.800Z', 3800),
  },
  {
    type: 'transcript.utterance',
    text: 'the fox',
    startMs: 3100,
    endMs: 3700,
    words: [],
    channel: 'caller',
    final: true,
    ...c(4, '2026-02-03T09:00:06.000Z', 4000),
  },
  {
    type: 'transcript.word',
    text: 'bye',
    startMs: 61000,
    channel: 'caller',
    ...c(5, '2026-02-03T09:01:03.000Z', 61000),
  },
  { type: 'dtmf', digit: '9', durationMs: 120, ...c(6, '2026-02-03T09:01:03.500Z', 61500) },
  {
    type: 'call.ended',
    reason: 'bye-remote',
    durationMs: 62000,
    transcript: [],
    ...c(7, '2026-02-03T09:01:04.000Z', 62000),
  },
];

describe('ConsoleSink', () => {
  it('both sides of a call: each line names its side; pending words are kept per side', () => {
    let text = '';
    const sink = new ConsoleSink({
      out: { write: (s: string) => (text += s) },
      logger: logSink().logger,
      tty: true,
      color: false,
    });
    const word = (seq: number, t: string, channel: string): CallEvent => ({
      type: 'transcript.word',
      text: t,
      startMs: seq * 100,
      channel,
      ...c(seq, '2026-02-03T09:00:05.000Z', 3000),
    });
    sink.handle(word(2, 'hello', 'callee'));
    sink.handle(word(3, 'hi', 'caller'));
    sink.handle({
      type: 'transcript.utterance',
      text: 'hello there',
      startMs: 200,
      endMs: 900,
      words: [],
      channel: 'callee',
      final: true,
      ...c(4, '2026-02-03T09:00:06.000Z', 4000),
    });
    sink.handle({
      type: 'call.ended',
      reason: 'bye-remote',
      durationMs: 5000,
      transcript: [],
      ...c(5, '2026-02-03T09:00:07.000Z', 5000),
    });
    expect(text).toBe(
      [
        '09:00:06   callee +00:00  hello there',
        '09:00:07   Alice Smith +00:00  hi',
        '09:00:07 ☎ Alice Smith call ended: bye-remote after 00:05',
        '',
      ].join('\n'),
    );
  });

  it('prints readable lines on a terminal', () => {
    let text = '';
    const sink = new ConsoleSink({
      out: { write: (s: string) => (text += s) },
      logger: logSink().logger,
      tty: true,
      color: false,
    });
    EVENTS.forEach((e) => sink.handle(e));
    expect(text).toBe(
      [
        '09:00:02 ☎ "Alice Smith" <sip:alice@example.com>;tag=1928301774 → sip:1001@192.0.2.10 (udp, PCMU)  call c1',
        '09:00:06   Alice Smith +00:03  the fox',
        '09:01:03   Alice Smith pressed 9',
        '09:01:04   Alice Smith +01:01  bye',
        '09:01:04 ☎ Alice Smith call ended: bye-remote after 01:02',
        '',
      ].join('\n'),
    );
  });

  it('prints a SIPREC recording update as one line naming who joined, left, paused or resumed', () => {
    let text = '';
    const sink = new ConsoleSink({
      out: { write: (s: string) => (text += s) },
      logger: logSink().logger,
      tty: true,
      color: false,
    });
    sink.handle({
      type: 'recording.updated',
      joined: [{ aor: 'sip:paul@example.com', name: 'Paul' }],
      left: [{ aor: 'sip:bob@example.com', name: null }],
      paused: ['caller'],
      resumed: [],
      ...c(8, '2026-02-03T09:01:05.000Z', 63000),
    });
    expect(text).toBe(
      '09:01:05 ● recording: Paul joined, sip:bob@example.com left, caller paused  call c1\n',
    );
  });

  it('writes JSON log records when not on a terminal', () => {
    const { logger, records } = logSink('info');
    let text = '';
    const sink = new ConsoleSink({ out: { write: (s: string) => (text += s), isTTY: false }, logger });
    EVENTS.forEach((e) => sink.handle(e));
    expect(text).toBe('');
    expect(records.map((r) => [r['msg'], r['seq']])).toEqual([
      ['call started', 1],
      ['utterance', 4],
      ['dtmf', 6],
      ['call ended', 7],
    ]);
    // Privacy: no transcript text in the log unless log.transcripts says so.
    expect(records[1]).toMatchObject({ callId: 'c1', startMs: 3100, endMs: 3700 });
    expect(JSON.stringify(records)).not.toMatch(/the fox|"bye"/);
  });

  it('logs transcript text only with log.transcripts: true', () => {
    const { logger, records } = logSink('debug');
    const sink = new ConsoleSink({ out: { write: () => true, isTTY: false }, logger, transcripts: true });
    EVENTS.forEach((e) => sink.handle(e));
    expect(records.filter((r) => r['text'] !== undefined).map((r) => [r['msg'], r['text']])).toEqual([
      ['word', 'the'],
      ['word', 'fox'],
      ['utterance', 'the fox'],
      ['word', 'bye'],
    ]);
  });

  it('keeps transcript text out of debug logs by default too', () => {
    const { logger, records } = logSink('debug');
    const sink = new ConsoleSink({ out: { write: () => true, isTTY: false }, logger });
    EVENTS.forEach((e) => sink.handle(e));
    expect(records.map((r) => r['msg'])).toContain('word');
    expect(JSON.stringify(records)).not.toMatch(/"the"|fox|"bye"/);
  });

  it('prints no transcript lines on a terminal with log.transcripts: false', () => {
    let text = '';
    const sink = new ConsoleSink({
      out: { write: (s: string) => (text += s) },
      logger: logSink().logger,
      tty: true,
      color: false,
      transcripts: false,
    });
    EVENTS.forEach((e) => sink.handle(e));
    expect(text).not.toMatch(/fox|\bbye\b(?!-)/);
    expect(text).toContain('call ended: bye-remote');
  });

  it('names the caller by display name or user part', () => {
    expect(callerName({ from: '"Bob" <sip:bob@x>' })).toBe('Bob');
    expect(callerName({ from: 'Carol <sip:carol@x>' })).toBe('Carol');
    expect(callerName({ from: '<sip:+15550100@x;user=phone>' })).toBe('+15550100');
    expect(callerName({ from: 'sip:dave@x' })).toBe('dave');
  });
});
