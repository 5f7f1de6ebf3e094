import { describe, expect, it } from 'vitest';
import type { CallEvent, CallMeta } from '../../../src/events.js';
import {
  TranscriptBus,
  UnknownCallError,
  type TranscriptSink,
} from '../../../src/transcripts/TranscriptBus.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { logSink } from '../logSink.js';

const META: CallMeta = {
  sipCallId: 'a84b4c76e66710@pc33.example.com',
  from: 'sip:alice@example.com',
  to: 'sip:1001@sipscribe.example.com',
  account: null,
  transport: 'udp',
  codec: 'PCMU',
  source: '192.0.2.4:5060',
};

function collector(name = 'collect'): TranscriptSink & { events: CallEvent[] } {
  const events: CallEvent[] = [];
  return { name, events, handle: (e) => void events.push(e) };
}

function word(text: string, startMs: number) {
  return { type: 'transcript.word', text, startMs, channel: 'caller' } as const;
}

describe('TranscriptBus', () => {
  it('numbers each call from 1 and adds the common fields', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 2, 3, 4, 5, 0));
    const bus = new TranscriptBus({ logger: logSink().logger, clock });
    const sink = collector();
    bus.addSink(sink);
    bus.openCall('c1', META);
    bus.openCall('c2', META);
    bus.markAnswered('c1');
    bus.publish('c1', { type: 'call.started' });
    clock.advance(1250);
    bus.publish('c1', word('hello', 1000));
    bus.publish('c2', { type: 'call.started' });
    bus.publish('c1', { type: 'dtmf', digit: '5', durationMs: 160 });
    await bus.flush();
    expect(sink.events.map((e) => [e.callId, e.seq, e.type])).toEqual([
      ['c1', 1, 'call.started'],
      ['c1', 2, 'transcript.word'],
      ['c2', 1, 'call.started'],
      ['c1', 3, 'dtmf'],
    ]);
    expect(sink.events[1]).toEqual({
      type: 'transcript.word',
      text: 'hello',
      startMs: 1000,
      channel: 'caller',
      seq: 2,
      callId: 'c1',
      at: '2026-01-02T03:04:06.250Z',
      offsetMs: 1250,
      call: META,
    });
    // The order JSON lines, webhooks and the live feed show: the body's fields, then the common ones.
    expect(Object.keys(sink.events[3]!)).toEqual([
      'type',
      'digit',
      'durationMs',
      'seq',
      'callId',
      'at',
      'offsetMs',
      'call',
    ]);
    // c2 was never answered: offsets count from answer, so 0.
    expect(sink.events[2]?.offsetMs).toBe(0);
  });

  it('ends a call with the whole transcript and closes its stream', async () => {
    const clock = new FakeClock(0);
    const bus = new TranscriptBus({ logger: logSink().logger, clock });
    const sink = collector();
    bus.addSink(sink);
    bus.openCall('c1', META);
    bus.markAnswered('c1');
    const words = [
      { text: 'the', startMs: 100, endMs: 200 },
      { text: 'fox', startMs: 250, endMs: 500 },
    ];
    bus.publish('c1', {
      type: 'transcript.utterance',
      text: 'the fox',
      startMs: 100,
      endMs: 500,
      words,
      channel: 'caller',
      final: true,
    });
    clock.advance(4000);
    const ended = bus.endCall('c1', 'bye-remote');
    expect(ended).toMatchObject({
      type: 'call.ended',
      seq: 2,
      reason: 'bye-remote',
      durationMs: 4000,
      transcript: [{ text: 'the fox', startMs: 100, endMs: 500, words, channel: 'caller' }],
    });
    expect(bus.isOpen('c1')).toBe(false);
    expect(() => bus.publish('c1', word('late', 1))).toThrow(UnknownCallError);
    await bus.flush();
    expect(sink.events.map((e) => e.type)).toEqual(['transcript.utterance', 'call.ended']);
  });

  it("call.ended's transcript interleaves both channels by start time", () => {
    const bus = new TranscriptBus({ logger: logSink().logger, clock: new FakeClock(0) });
    bus.openCall('c1', META);
    bus.markAnswered('c1');
    const utterance = (text: string, startMs: number, channel: string) =>
      ({
        type: 'transcript.utterance',
        text,
        startMs,
        endMs: startMs + 500,
        words: [],
        channel,
        final: true,
      }) as const;
    // The callee's stream flushed first: its utterances were published before the caller's.
    bus.publish('c1', utterance('hello', 0, 'callee'));
    bus.publish('c1', utterance('bye', 4000, 'callee'));
    bus.publish('c1', utterance('hi there', 1200, 'caller'));
    const ended = bus.endCall('c1', 'bye-remote');
    expect(ended.type === 'call.ended' && ended.transcript.map((u) => `${u.channel}: ${u.text}`)).toEqual([
      'callee: hello',
      'caller: hi there',
      'callee: bye',
    ]);
  });

  it('keeps the events of open calls for late live clients, and forgets ended calls', () => {
    const bus = new TranscriptBus({ logger: logSink().logger, clock: new FakeClock(0) });
    bus.openCall('a', META);
    bus.openCall('b', META);
    bus.publish('a', { type: 'call.started' });
    bus.publish('b', { type: 'call.started' });
    bus.publish('a', word('one', 10));
    bus.endCall('b', 'cancel');
    expect(bus.activeEvents().map((e) => `${e.callId}${e.seq}`)).toEqual(['a1', 'a2']);
    expect(bus.openCallIds()).toEqual(['a']);
  });

  it('keeps an open call’s utterances for late live clients, not the words they already carry', () => {
    const bus = new TranscriptBus({ logger: logSink().logger, clock: new FakeClock(0) });
    bus.openCall('a', META);
    bus.publish('a', { type: 'call.started' }); // seq 1
    bus.publish('a', word('hello', 100)); // 2
    bus.publish('a', { type: 'transcript.word', text: 'yes', startMs: 200, channel: 'callee' }); // 3
    bus.publish('a', word('there', 400)); // 4
    const uttr = (channel: string, startMs: number, endMs: number) =>
      ({ type: 'transcript.utterance', text: 'x', startMs, endMs, words: [], channel, final: true }) as const;
    bus.publish('a', uttr('caller', 100, 700)); // 5: covers 2 and 4
    bus.publish('a', word('again', 900)); // 6: after it
    const kept = (): string[] => bus.activeEvents().map((e) => `${e.seq}:${e.type}`);
    expect(kept()).toEqual([
      '1:call.started',
      '3:transcript.word',
      '5:transcript.utterance',
      '6:transcript.word',
    ]);
    bus.publish('a', uttr('callee', 200, 500)); // 7: covers 3
    expect(kept()).toEqual([
      '1:call.started',
      '5:transcript.utterance',
      '6:transcript.word',
      '7:transcript.utterance',
    ]);
  });

  it('a failing sink is logged and counted and does not stop the others', async () => {
    const { logger, records } = logSink();
    const failures: string[] = [];
    const bus = new TranscriptBus({
      logger,
      clock: new FakeClock(0),
      counters: { sinkFailed: (s) => failures.push(s), sinkDropped: () => undefined },
    });
    const good = collector('good');
    let calls = 0;
    bus.addSink({
      name: 'bad',
      handle: (e) => {
        calls++;
        if (e.seq % 2 === 1) {
          throw new Error('disk full');
        }
        return Promise.reject(new Error('receiver gone'));
      },
    });
    bus.addSink(good);
    bus.openCall('c', META);
    for (let i = 0; i < 5; i++) {
      expect(() => bus.publish('c', word(`w${i}`, i))).not.toThrow();
    }
    await bus.flush();
    expect(good.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(calls).toBe(5);
    expect(failures).toEqual(['bad', 'bad', 'bad', 'bad', 'bad']);
    expect(bus.stats()).toEqual({
      bad: { delivered: 0, failed: 5, dropped: 0, queued: 0 },
      good: { delivered: 5, failed: 0, dropped: 0, queued: 0 },
    });
    expect(records.filter((r) => r['msg'] === 'transcript sink failed')).toHaveLength(5);
  });

  it('a slow sink delays only itself and still gets every event in order', async () => {
    const bus = new TranscriptBus({ logger: logSink().logger, clock: new FakeClock(0) });
    const slowSeen: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    bus.addSink({
      name: 'slow',
      handle: async (e) => {
        await gate;
        slowSeen.push(e.seq);
      },
    });
    const fast = collector('fast');
    bus.addSink(fast);
    bus.openCall('c', META);
    for (let i = 0; i < 4; i++) {
      bus.publish('c', word(`w${i}`, i));
    }
    // Let the fast sink run while the slow one is stuck on its first event.
    for (let i = 0; i < 20; i++) {
      await Promise.resolve();
    }
    expect(fast.events).toHaveLength(4);
    expect(slowSeen).toEqual([]);
    expect(bus.stats()['slow']?.queued).toBe(3);
    release();
    await bus.flush();
    expect(slowSeen).toEqual([1, 2, 3, 4]);
  });

  it('drops events for a sink whose queue is full, counting them', async () => {
    const bus = new TranscriptBus({ logger: logSink().logger, clock: new FakeClock(0), maxQueue: 2 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seen: number[] = [];
    bus.addSink({
      name: 'stuck',
      handle: async (e) => {
        await gate;
        seen.push(e.seq);
      },
    });
    bus.openCall('c', META);
    for (let i = 0; i < 5; i++) {
      bus.publish('c', word(`w${i}`, i));
    }
    expect(bus.stats()['stuck']).toMatchObject({ dropped: 3, queued: 2 });
    release();
    await bus.flush();
    expect(seen).toEqual([1, 2]);
  });

  it('sinks run after publish returns', () => {
    const bus = new TranscriptBus({ logger: logSink().logger, clock: new FakeClock(0) });
    const sink = collector();
    bus.addSink(sink);
    bus.openCall('c', META);
    bus.publish('c', { type: 'call.started' });
    expect(sink.events).toEqual([]);
  });
});
