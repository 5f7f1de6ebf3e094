import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CallEvent } from '../../../src/events.js';
import { CallStore } from '../../../src/storage/CallStore.js';
import { JsonlFiles } from '../../../src/storage/JsonlFiles.js';
import { StorageWriter, type EventStore } from '../../../src/storage/StorageWriter.js';
import { openStorage } from '../../../src/storage/backend.js';
import { openDatabase, type Db } from '../../../src/storage/database.js';
import { StorageSink } from '../../../src/transcripts/StorageSink.js';
import { TranscriptBus } from '../../../src/transcripts/TranscriptBus.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { logSink } from '../logSink.js';
import { META, word } from './storeSuite.js';

function ended(callId: string, seq: number): CallEvent {
  return {
    type: 'call.ended',
    reason: 'bye-remote',
    durationMs: 1000,
    transcript: [],
    seq,
    callId,
    at: '2026-03-01T10:00:01.000Z',
    offsetMs: 1000,
    call: META,
  };
}

/** A store that records each batch it is given; `hold()` makes the next batch wait until released. */
class RecordingStore implements EventStore {
  readonly batches: string[][] = [];
  #held: { promise: Promise<void>; release: () => void } | null = null;
  failOn = new Set<string>();

  hold(): () => void {
    let release = (): void => undefined;
    const promise = new Promise<void>((r) => (release = r));
    this.#held = { promise, release };
    return release;
  }

  async saveEvents(events: readonly CallEvent[]): Promise<void> {
    const held = this.#held;
    this.#held = null;
    if (held) {
      await held.promise;
    }
    const keys = events.map((e) => `${e.callId}:${e.seq}`);
    if (keys.some((k) => this.failOn.has(k))) {
      throw new Error('disk I/O error');
    }
    this.batches.push(keys);
  }
}

describe('StorageWriter', () => {
  let dir = '';
  let clock: FakeClock;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-writer-'));
    clock = new FakeClock(0);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function writer(
    store: EventStore,
    opts: { intervalMs?: number; maxRows?: number } = {},
  ): {
    w: StorageWriter;
    failures: number[];
    records: Record<string, unknown>[];
    files: JsonlFiles;
  } {
    const failures: number[] = [];
    const { logger, records } = logSink();
    const files = new JsonlFiles(dir);
    const w = new StorageWriter({
      store,
      files,
      clock,
      logger,
      intervalMs: opts.intervalMs ?? 50,
      maxRows: opts.maxRows ?? 500,
      onFailure: (n) => failures.push(n),
    });
    return { w, failures, records, files };
  }

  const lines = (callId: string): string[] =>
    readFileSync(join(dir, 'calls', `${callId}.jsonl`), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => {
        const e = JSON.parse(l) as CallEvent;
        return `${e.callId}:${e.seq}`;
      });

  it('settled(): writes what is queued at once and resolves once the events added before it are stored', async () => {
    const store = new RecordingStore();
    const { w } = writer(store);
    await w.settled(); // nothing added: at once
    w.add(word('a', 1, 'one'));
    w.add(word('a', 2, 'two'));
    const release = store.hold();
    let done = false;
    const settled = w.settled().then(() => (done = true));
    // The batch started without waiting for its 50 ms (the clock never moves in this test).
    expect(w.stats.batches).toBe(1);
    // Events added later do not hold the reader back; they are not in its batch.
    w.add(word('a', 3, 'three'));
    expect(done).toBe(false);
    release();
    await settled;
    expect(store.batches).toEqual([['a:1', 'a:2']]);
    // A reader asking now waits for a:3, whose batch starts at once.
    await w.settled();
    expect(store.batches).toEqual([['a:1', 'a:2'], ['a:3']]);
  });

  it('settled(): a batch that fails still settles (its events counted as failed)', async () => {
    const store = new RecordingStore();
    store.failOn.add('a:1');
    const { w, failures } = writer(store);
    w.add(word('a', 1, 'one'));
    await w.settled();
    expect(failures).toEqual([1]);
    expect(w.stats.failed).toBe(1);
  });

  it('writes the events of every call in one batch per interval, in the order they came', async () => {
    const store = new RecordingStore();
    const { w } = writer(store);
    w.add(word('a', 1, 'one'));
    w.add(word('b', 1, 'uno'));
    w.add(word('a', 2, 'two'));
    clock.advance(49);
    expect(w.stats.batches).toBe(0);
    expect(w.queued).toBe(3);
    clock.advance(1); // 50 ms after the first event
    expect(w.stats.batches).toBe(1);
    w.add(word('b', 2, 'dos'));
    await w.flush();
    expect(store.batches).toEqual([['a:1', 'b:1', 'a:2'], ['b:2']]);
    expect(lines('a')).toEqual(['a:1', 'a:2']);
    expect(lines('b')).toEqual(['b:1', 'b:2']);
    await w.close();
  });

  it('writes a batch at once when it reaches maxRows', () => {
    const store = new RecordingStore();
    const { w } = writer(store, { maxRows: 3 });
    w.add(word('a', 1, 'one'));
    w.add(word('a', 2, 'two'));
    clock.advance(0);
    expect(w.stats.batches).toBe(0);
    w.add(word('a', 3, 'three'));
    clock.advance(0);
    expect(w.stats).toMatchObject({ batches: 1, events: 3 });
  });

  it('a backlog is written in batches of at most maxRows, in order', async () => {
    const store = new RecordingStore();
    const { w } = writer(store, { maxRows: 2 });
    const release = store.hold();
    w.add(word('a', 1, 'one'));
    w.add(word('a', 2, 'two'));
    clock.advance(0);
    for (let seq = 3; seq <= 7; seq++) {
      w.add(word('a', seq, `w${seq}`));
    }
    release();
    await w.flush();
    expect(store.batches).toEqual([['a:1', 'a:2'], ['a:3', 'a:4'], ['a:5', 'a:6'], ['a:7']]);
    await w.close();
  });

  it('writes at once after call.ended, after the call words, and closes its file', async () => {
    const store = new RecordingStore();
    const { w, files } = writer(store);
    w.add(word('a', 1, 'one'));
    w.add(word('a', 2, 'two'));
    w.add(ended('a', 3));
    clock.advance(0);
    expect(w.stats.batches).toBe(1);
    await w.flush();
    expect(store.batches).toEqual([['a:1', 'a:2', 'a:3']]);
    expect(lines('a')).toEqual(['a:1', 'a:2', 'a:3']);
    expect(files.openFiles).toBe(0);
  });

  it('events that arrive while a batch is written go into the next one, in order', async () => {
    const store = new RecordingStore();
    const { w } = writer(store);
    const release = store.hold();
    w.add(word('a', 1, 'one'));
    clock.advance(50);
    w.add(word('a', 2, 'two'));
    w.add(word('a', 3, 'three'));
    clock.advance(50); // the timer fires while the first batch is still being written
    expect(w.stats.batches).toBe(1);
    release();
    await w.flush();
    expect(store.batches).toEqual([['a:1'], ['a:2', 'a:3']]);
    expect(lines('a')).toEqual(['a:1', 'a:2', 'a:3']);
    await w.close();
  });

  it('a store error is logged once, counted per event, and the rest of the batch is stored', async () => {
    const store = new RecordingStore();
    store.failOn = new Set(['a:2', 'a:4']);
    const { w, failures, records } = writer(store);
    for (let seq = 1; seq <= 5; seq++) {
      w.add(word('a', seq, `w${seq}`));
    }
    await w.flush();
    expect(store.batches).toEqual([['a:1'], ['a:3'], ['a:5']]);
    expect(failures).toEqual([1, 1]);
    expect(records.filter((r) => r['msg'] === 'cannot store event')).toHaveLength(1);
    // The files still got every line, and the writer goes on.
    expect(lines('a')).toEqual(['a:1', 'a:2', 'a:3', 'a:4', 'a:5']);
    w.add(word('a', 6, 'w6'));
    await w.flush();
    expect(store.batches.at(-1)).toEqual(['a:6']);
    expect(w.stats.failed).toBe(2);
    await w.close();
  });

  it('a file that cannot be written is counted and does not stop the database rows', async () => {
    const store = new RecordingStore();
    const { w, failures, records } = writer(store);
    w.add(word('../escape', 1, 'bad'));
    w.add(word('a', 1, 'good'));
    await w.flush();
    expect(store.batches).toEqual([['../escape:1', 'a:1']]);
    expect(failures).toEqual([2]);
    expect(records.filter((r) => r['msg'] === 'cannot append events to the JSONL files')).toHaveLength(1);
    expect(lines('a')).toEqual(['a:1']);
    await w.close();
  });
});

describe('StorageSink through the bus', () => {
  let dir = '';
  let db: Db;
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('bus.close() (shutdown) writes what is still queued: no word lost', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-writer-'));
    db = openDatabase(dir);
    const clock = new FakeClock(Date.UTC(2026, 2, 1));
    const store = new CallStore(db);
    const bus = new TranscriptBus({ logger: logSink().logger, clock });
    // A long interval: nothing is written by the timer during the test.
    bus.addSink(new StorageSink(store, new JsonlFiles(dir), { clock, intervalMs: 5000 }));
    bus.openCall('c1', META);
    bus.publish('c1', { type: 'call.started' });
    for (const text of ['the', 'quick', 'brown', 'fox']) {
      bus.publish('c1', { type: 'transcript.word', text, startMs: 0, channel: 'caller' });
    }
    await new Promise((r) => setImmediate(r));
    expect(store.events('c1')).toEqual([]);
    await bus.close();
    expect(store.words('c1').map((w) => w.text)).toEqual(['the', 'quick', 'brown', 'fox']);
    expect(
      readFileSync(join(dir, 'calls', 'c1.jsonl'), 'utf8')
        .trimEnd()
        .split('\n'),
    ).toHaveLength(5);
  });
});

describe('webhook outbox rows go into the event batch (SQLite)', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('an event the database refuses gets no webhook row; the others get theirs, in order, after they are stored', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-writer-hooks-'));
    const clock = new FakeClock(1_000);
    const { logger } = logSink();
    const storage = await openStorage({ dir, webhookTimeoutMs: 10_000, clock, logger });
    try {
      const db = openDatabase(dir);
      // The database refuses one event (as a full disk or a broken row would): its transaction,
      // and the batch's first attempt, fail.
      db.exec(`CREATE TRIGGER refuse AFTER INSERT ON events WHEN NEW.seq = 2
               BEGIN SELECT RAISE(ABORT, 'refused'); END`);
      db.close();
      const woken: number[] = [];
      const w = new StorageWriter({
        store: storage.events,
        files: new JsonlFiles(dir),
        clock,
        logger,
        intervalMs: 50,
        maxRows: 500,
        // Words go to A; call.ended to A and B.
        webhooks: {
          route: (e) => (e.type === 'call.ended' ? ['http://a.test/', 'http://b.test/'] : ['http://a.test/']),
          queued: () => woken.push(outboxRows(dir).length),
        },
      });
      for (const e of [word('c1', 1, 'one'), word('c1', 2, 'two'), word('c1', 3, 'three'), ended('c1', 4)]) {
        w.add(e);
      }
      expect(outboxRows(dir)).toEqual([]);
      await w.flush();
      expect(storedSeqs(dir)).toEqual([1, 3, 4]);
      expect(outboxRows(dir)).toEqual([
        'http://a.test/ c1:1',
        'http://a.test/ c1:3',
        'http://a.test/ c1:4',
        'http://b.test/ c1:4',
      ]);
      // The dispatcher was woken only once rows were stored (one by one after the failed batch).
      expect(woken.length).toBeGreaterThan(0);
      expect(woken[0]).toBeGreaterThan(0);
      await w.close();
    } finally {
      await storage.close();
    }
  });
});

function outboxRows(dir: string): string[] {
  const db = openDatabase(dir);
  try {
    return db
      .prepare<[], { url: string; call_id: string; seq: number }>(
        'SELECT url, call_id, seq FROM outbox ORDER BY id',
      )
      .all()
      .map((r) => `${r.url} ${r.call_id}:${r.seq}`);
  } finally {
    db.close();
  }
}

function storedSeqs(dir: string): number[] {
  const db = openDatabase(dir);
  try {
    return db
      .prepare<[], { seq: number }>("SELECT seq FROM events WHERE call_id = 'c1' ORDER BY seq")
      .all()
      .map((r) => r.seq);
  } finally {
    db.close();
  }
}
