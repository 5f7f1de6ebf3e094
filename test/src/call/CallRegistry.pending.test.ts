// A deferred call whose transcription the shutdown cut: park() lets go of it without call.ended,
// and a registry of the next run (same database, new bus) takes it back with resumePending(), so
// the call's events go on with the next seq and call.ended carries every utterance.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CallRegistry } from '../../../src/call/CallRegistry.js';
import type { CallEvent, CallMeta } from '../../../src/events.js';
import { createMetrics } from '../../../src/metrics.js';
import { CallStore } from '../../../src/storage/CallStore.js';
import { JsonlFiles } from '../../../src/storage/JsonlFiles.js';
import { openDatabase, type Db } from '../../../src/storage/database.js';
import { StorageSink } from '../../../src/transcripts/StorageSink.js';
import { TranscriptBus } from '../../../src/transcripts/TranscriptBus.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { logSink } from '../logSink.js';

const META: CallMeta = {
  sipCallId: 'deferred-1@192.0.2.4',
  from: 'sip:+15550100@example.com',
  to: 'sip:transcribe@192.0.2.10',
  account: null,
  transport: 'udp',
  codec: 'PCMU',
  source: '192.0.2.4:5060',
};

const utterance = (text: string, startMs: number, endMs: number) =>
  ({
    type: 'transcript.utterance',
    text,
    startMs,
    endMs,
    words: [{ text, startMs }],
    channel: 'caller',
    final: true,
  }) as const;

describe('CallRegistry park / resumePending', () => {
  let dir = '';
  let db: Db;
  let clock: FakeClock;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-park-'));
    db = openDatabase(dir);
    clock = new FakeClock(Date.UTC(2026, 4, 1, 9, 0, 0));
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One run of the process: a bus that stores (like the endpoint's) and collects its events. */
  function run(): {
    registry: CallRegistry;
    bus: TranscriptBus;
    events: CallEvent[];
    active: () => Promise<number>;
  } {
    const store = new CallStore(db);
    const bus = new TranscriptBus({ logger: logSink().logger, clock });
    const events: CallEvent[] = [];
    bus.addSink(new StorageSink(store, new JsonlFiles(dir)));
    bus.addSink({ name: 'collect', handle: (e) => void events.push(e) });
    const metrics = createMetrics({ processMetrics: false });
    const registry = new CallRegistry({ store, bus, clock, logger: logSink().logger, metrics });
    const active = async (): Promise<number> => (await metrics.callsActive.get()).values[0]?.value ?? 0;
    return { registry, bus, events, active };
  }

  it('park leaves the row in ending without call.ended; the next run ends it with the next seq', async () => {
    const first = run();
    const { id } = first.registry.create(META);
    first.registry.transition(id, 'answered');
    clock.advance(4000);
    first.registry.transition(id, 'ending', { reason: 'bye-remote' });
    // The cut transcription had published one utterance already.
    first.bus.publish(id, utterance('hello', 0, 400));
    first.registry.park(id);
    await first.bus.flush();
    expect(first.registry.active()).toEqual([]);
    expect(await first.active()).toBe(0);
    expect(first.registry.get(id)?.state).toBe('ending');
    expect(first.events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'call.started'],
      [2, 'transcript.utterance'],
    ]);

    clock.advance(60_000); // restart
    const second = run();
    await second.registry.prepareResume([id]);
    const r = second.registry.resumePending(id);
    expect(r).toMatchObject({ endedPublished: false, transcribedUntilMs: 400 });
    expect(second.registry.active().map((c) => c.id)).toEqual([id]);
    expect(await second.active()).toBe(1);
    second.bus.publish(id, utterance('world', 500, 900));
    second.registry.transition(id, 'ended', { durationMs: 4000 });
    await second.bus.flush();
    expect(second.events.map((e) => [e.seq, e.type])).toEqual([
      [3, 'transcript.utterance'],
      [4, 'call.ended'],
    ]);
    const ended = second.events[1] as Extract<CallEvent, { type: 'call.ended' }>;
    expect(ended).toMatchObject({ reason: 'bye-remote', durationMs: 4000 });
    expect(ended.transcript.map((u) => u.text)).toEqual(['hello', 'world']);
    // offsetMs still counts from the answer of the first run.
    expect(second.events[0]!.offsetMs).toBe(64_000);
    expect(second.registry.get(id)).toMatchObject({ state: 'ended', durationMs: 4000 });
    expect(await second.active()).toBe(0);
  });

  it('when call.ended was already published, the resumed call adds utterances but no second call.ended', async () => {
    const first = run();
    const { id } = first.registry.create(META);
    first.registry.transition(id, 'answered');
    first.registry.transition(id, 'ending', { reason: 'shutdown' });
    first.registry.transition(id, 'ended');
    await first.bus.flush();
    const second = run();
    await second.registry.prepareResume([id]);
    const r = second.registry.resumePending(id);
    expect(r?.endedPublished).toBe(true);
    second.bus.publish(id, utterance('late', 0, 300));
    second.registry.transition(id, 'ended', { durationMs: 300, endedPublished: true });
    await second.bus.flush();
    expect(second.events.map((e) => [e.seq, e.type])).toEqual([[3, 'transcript.utterance']]);
    expect(second.bus.isOpen(id)).toBe(false);
    expect(second.registry.get(id)?.state).toBe('ended');
  });

  it('resumePending refuses unknown, unprepared, never answered and active calls', async () => {
    const { registry } = run();
    await registry.prepareResume(['no-such-call']);
    expect(registry.resumePending('no-such-call')).toBeUndefined();
    const { id } = registry.create(META);
    await registry.prepareResume([id]);
    expect(registry.resumePending(id)).toBeUndefined(); // active
    registry.transition(id, 'rejected', { status: 486 });
    expect(registry.resumePending(id)).toBeUndefined(); // not prepared again
    await registry.prepareResume([id]);
    expect(registry.resumePending(id)).toBeUndefined(); // never answered
  });
});
