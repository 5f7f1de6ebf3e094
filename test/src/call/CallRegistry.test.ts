import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CallRegistry, UnknownCallIdError } from '../../../src/call/CallRegistry.js';
import { CALL_STATES, StateTransitionError, type CallState } from '../../../src/call/callStates.js';
import type { CallEvent, CallMeta } from '../../../src/events.js';
import { createMetrics, type Metrics } from '../../../src/metrics.js';
import { CallStore } from '../../../src/storage/CallStore.js';
import { openDatabase, type Db } from '../../../src/storage/database.js';
import { JsonlFiles } from '../../../src/storage/JsonlFiles.js';
import { StorageSink } from '../../../src/transcripts/StorageSink.js';
import { TranscriptBus } from '../../../src/transcripts/TranscriptBus.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { logSink } from '../logSink.js';

const META: CallMeta = {
  sipCallId: '3848276298220188511@192.0.2.4',
  from: 'sip:+15550100@example.com',
  to: 'sip:transcribe@192.0.2.10',
  account: null,
  transport: 'udp',
  codec: null,
  source: '192.0.2.4:5060',
};

// The legal transitions, written out from architecture.md ("Call states"), not from the code's table.
const LEGAL = new Set([
  'offered>ringing',
  'offered>answered',
  'offered>rejected',
  'offered>cancelled',
  'ringing>answered',
  'ringing>rejected',
  'ringing>cancelled',
  'answered>streaming',
  'answered>ending',
  'streaming>ending',
  'ending>ended',
]);

describe('CallRegistry', () => {
  let dir = '';
  let db: Db;
  let clock: FakeClock;
  let bus: TranscriptBus;
  let events: CallEvent[];
  let metrics: Metrics;
  let registry: CallRegistry;
  let ids: number;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-reg-'));
    db = openDatabase(dir);
    clock = new FakeClock(Date.UTC(2026, 4, 1, 9, 0, 0));
    bus = new TranscriptBus({ logger: logSink().logger, clock });
    events = [];
    bus.addSink({ name: 'collect', handle: (e) => void events.push(e) });
    metrics = createMetrics({ processMetrics: false });
    ids = 0;
    registry = new CallRegistry({
      store: new CallStore(db),
      bus,
      clock,
      logger: logSink().logger,
      metrics,
      newId: () => `call-${++ids}`,
    });
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Drives a fresh call from offered along `path`. */
  function drive(path: readonly CallState[]): string {
    const { id } = registry.create(META);
    for (const s of path) {
      registry.transition(id, s, s === 'ending' ? { reason: 'bye-remote' } : {});
    }
    return id;
  }

  const paths: Record<CallState, CallState[]> = {
    offered: [],
    ringing: ['ringing'],
    answered: ['ringing', 'answered'],
    streaming: ['ringing', 'answered', 'streaming'],
    ending: ['ringing', 'answered', 'streaming', 'ending'],
    ended: ['ringing', 'answered', 'streaming', 'ending', 'ended'],
    rejected: ['rejected'],
    cancelled: ['ringing', 'cancelled'],
  };

  it('allows exactly the transitions of the state diagram and throws on the others', () => {
    for (const from of CALL_STATES) {
      for (const to of CALL_STATES) {
        const id = drive(paths[from]);
        const attempt = (): unknown => registry.transition(id, to, { reason: 'bye-local', status: 486 });
        if (LEGAL.has(`${from}>${to}`)) {
          expect(attempt, `${from} → ${to}`).not.toThrow();
        } else if (['ended', 'rejected', 'cancelled'].includes(from)) {
          // A finished call is no longer active.
          expect(attempt, `${from} → ${to}`).toThrow(UnknownCallIdError);
        } else {
          expect(attempt, `${from} → ${to}`).toThrow(StateTransitionError);
        }
      }
    }
  });

  it('needs a reason to enter ending', () => {
    const id = drive(['answered']);
    expect(() => registry.transition(id, 'ending')).toThrow(/needs a reason/);
  });

  it('publishes call.started on answer and call.ended with the transcript, and persists each step', async () => {
    const { id } = registry.create(META);
    expect(registry.get(id)?.state).toBe('offered');
    registry.transition(id, 'ringing');
    registry.updateMeta(id, { codec: 'PCMU' });
    clock.advance(2000);
    registry.transition(id, 'answered');
    registry.transition(id, 'streaming');
    bus.publish(
      id,
      utterance([
        { text: 'hello', startMs: 500, endMs: 900 },
        { text: 'there', startMs: 900, endMs: 1400 },
      ]),
    );
    clock.advance(61_000);
    registry.transition(id, 'ending', { reason: 'bye-remote' });
    expect(registry.active().map((r) => r.state)).toEqual(['ending']);
    clock.advance(1000);
    const done = registry.transition(id, 'ended');
    expect(done).toMatchObject({
      state: 'ended',
      createdAt: '2026-05-01T09:00:00.000Z',
      answeredAt: '2026-05-01T09:00:02.000Z',
      endedAt: '2026-05-01T09:01:04.000Z',
      endReason: 'bye-remote',
      durationMs: 62_000,
      meta: { ...META, codec: 'PCMU' },
    });
    expect(registry.active()).toEqual([]);
    expect(registry.get(id)).toEqual(done); // now from the database
    await bus.flush();
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'call.started'],
      [2, 'transcript.utterance'],
      [3, 'call.ended'],
    ]);
    expect(events[0]?.call.codec).toBe('PCMU');
    expect(events[2]).toMatchObject({
      reason: 'bye-remote',
      durationMs: 62_000,
      offsetMs: 62_000,
      transcript: [{ text: 'hello there' }],
    });
  });

  it('counts active calls and finished calls by outcome', async () => {
    drive(paths.ended);
    drive(paths.rejected);
    drive(paths.cancelled);
    drive(paths.streaming);
    const text = await metrics.registry.metrics();
    expect(text).toContain('sipscribe_calls_active 1\n');
    expect(text).toContain('sipscribe_calls_total{outcome="bye-remote"} 1\n');
    expect(text).toContain('sipscribe_calls_total{outcome="rejected"} 1\n');
    expect(text).toContain('sipscribe_calls_total{outcome="cancelled"} 1\n');
  });

  it('gives each call a child logger carrying its identity', () => {
    const sink = logSink();
    const reg = new CallRegistry({ store: new CallStore(db), bus, clock, logger: sink.logger });
    const { id } = reg.create(META);
    reg.logger(id).info({ rtpPort: 20000 }, 'media ready');
    expect(sink.records.at(-1)).toMatchObject({
      callId: id,
      sipCallId: META.sipCallId,
      from: META.from,
      to: META.to,
      rtpPort: 20000,
      msg: 'media ready',
    });
  });

  it('keeps the SIP status of a rejected call', () => {
    const { id } = registry.create(META);
    const r = registry.transition(id, 'rejected', { status: 503 });
    expect(r).toMatchObject({ state: 'rejected', rejectStatus: 503, durationMs: 0 });
    expect(bus.isOpen(id)).toBe(false);
  });

  it('endAll ends what is still active at shutdown, publishing call.ended for answered calls', async () => {
    const offered = drive([]);
    const streaming = drive(paths.streaming);
    const ending = drive(paths.ending);
    const done = drive(paths.ended);
    expect(registry.endAll().sort()).toEqual([offered, streaming, ending].sort());
    expect(registry.active()).toEqual([]);
    expect(registry.get(offered)).toMatchObject({ state: 'rejected', rejectStatus: 503 });
    expect(registry.get(streaming)).toMatchObject({ state: 'ended', endReason: 'shutdown' });
    expect(registry.get(ending)).toMatchObject({ state: 'ended', endReason: 'bye-remote' });
    expect(registry.get(done)?.state).toBe('ended');
    await bus.flush();
    const endedEvents = events
      .filter((e) => e.type === 'call.ended')
      .map((e) => [e.callId, 'reason' in e ? e.reason : '']);
    expect(endedEvents).toEqual([
      [done, 'bye-remote'],
      [streaming, 'shutdown'],
      [ending, 'bye-remote'],
    ]);
  });

  it('recoverStale ends the calls a crashed run left active, publishing call.ended with the stored transcript', async () => {
    // The crashed run: its events reached the database through the storage sink.
    const files = new JsonlFiles(dir);
    const crashedBus = new TranscriptBus({ logger: logSink().logger, clock });
    crashedBus.addSink(new StorageSink(new CallStore(db), files));
    const crashed = new CallRegistry({
      store: new CallStore(db),
      bus: crashedBus,
      clock,
      logger: logSink().logger,
      newId: () => `old-${++ids}`,
    });
    const ringing = crashed.create(META).id;
    crashed.transition(ringing, 'ringing');
    const talking = crashed.create(META).id;
    crashed.transition(talking, 'answered'); // 09:00:00.000, seq 1
    crashed.transition(talking, 'streaming');
    clock.advance(1500);
    crashedBus.publish(talking, word('one', 200, 700)); // seq 2
    crashedBus.publish(talking, word('two', 800, 1300)); // seq 3
    crashedBus.publish(
      talking, // seq 4
      utterance([
        { text: 'one', startMs: 200, endMs: 700 },
        { text: 'two', startMs: 800, endMs: 1300 },
      ]),
    );
    clock.advance(2000);
    crashedBus.publish(talking, word('three', 2500, 3000)); // seq 5, 09:00:03.500
    crashedBus.publish(talking, word('four', 3100)); // seq 6, no end yet
    await crashedBus.flush();
    await files.closeAll();

    // The next run, minutes later.
    clock.advance(300_000);
    expect(await registry.recoverStale()).toBe(2);
    await bus.flush();
    const stored = new CallStore(db);
    expect(stored.getCall(ringing)).toMatchObject({ state: 'cancelled', durationMs: 0 });
    expect(stored.getCall(talking)).toMatchObject({
      state: 'ended',
      endReason: 'error',
      endedAt: '2026-05-01T09:00:03.500Z',
      durationMs: 3500,
    });
    expect(events.map((e) => [e.callId, e.seq, e.type])).toEqual([
      [talking, 7, 'transcript.utterance'],
      [talking, 8, 'call.ended'],
    ]);
    const ended = events[1];
    expect(ended?.type === 'call.ended' && ended.durationMs).toBe(3500);
    expect(ended?.type === 'call.ended' && ended.transcript.map((u) => u.text)).toEqual([
      'one two',
      'three four',
    ]);
    expect(events[0]).toMatchObject({
      text: 'three four',
      startMs: 2500,
      endMs: 3100,
      words: [
        { text: 'three', startMs: 2500, endMs: 3000 },
        { text: 'four', startMs: 3100 },
      ],
    });
    const totals = (await metrics.callsTotal.get()).values.map((v) => [v.labels.outcome, v.value]);
    expect(totals.sort()).toEqual([
      ['cancelled', 1],
      ['error', 1],
    ]);
    // Nothing is left to recover, and the stream is closed.
    expect(await registry.recoverStale()).toBe(0);
    expect(bus.isOpen(talking)).toBe(false);
  });

  it('with instances sharing the store, recoverStale closes only the calls its own instance left', async () => {
    const store = new CallStore(db);
    const on = (instance: string, onBus = bus): CallRegistry =>
      new CallRegistry({
        store,
        instance,
        bus: onBus,
        clock,
        logger: logSink().logger,
        newId: () => `${instance}-${++ids}`,
      });
    const a = on('host-a');
    const b = on('host-b');
    const aCall = a.create(META).id;
    a.transition(aCall, 'answered');
    const bCall = b.create(META).id;
    b.transition(bCall, 'answered');
    expect(store.getCall(aCall)?.instance).toBe('host-a');
    expect(store.getCall(bCall)?.instance).toBe('host-b');
    // host-a restarts (its call was cut), host-b's call is still live.
    clock.advance(60_000);
    expect(await on('host-a', new TranscriptBus({ logger: logSink().logger, clock })).recoverStale()).toBe(1);
    expect(store.getCall(aCall)).toMatchObject({ state: 'ended', endReason: 'error' });
    expect(store.getCall(bCall)?.state).toBe('answered');
    b.transition(bCall, 'ending', { reason: 'bye-remote' });
    b.transition(bCall, 'ended');
    expect(store.getCall(bCall)).toMatchObject({
      state: 'ended',
      endReason: 'bye-remote',
      instance: 'host-b',
    });
  });

  it('get and list answer for the calls of this process, newest first, without reading the database', () => {
    const first = drive(['answered', 'ending', 'ended']);
    const second = registry.create(META).id;
    expect(registry.list().map((r) => [r.id, r.state])).toEqual([
      [second, 'offered'],
      [first, 'ended'],
    ]);
    expect(registry.get(first)?.endReason).toBe('bye-remote');
    expect(registry.get('no-such-call')).toBeUndefined();
  });
});

function word(text: string, startMs: number, endMs?: number) {
  return {
    type: 'transcript.word',
    text,
    startMs,
    ...(endMs === undefined ? {} : { endMs }),
    channel: 'caller',
  } as const;
}

/** A final utterance of the caller made of `words`. */
function utterance(words: { text: string; startMs: number; endMs: number }[]) {
  return {
    type: 'transcript.utterance',
    text: words.map((w) => w.text).join(' '),
    startMs: words[0]?.startMs ?? 0,
    endMs: words.at(-1)?.endMs ?? 0,
    words,
    channel: 'caller',
    final: true,
  } as const;
}
