// The SQLite event batches written by the storage worker thread, read back on the main thread's
// own connection.
import { mkdirSync, mkdtempSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CallEvent } from '../../../src/events.js';
import { CallStore } from '../../../src/storage/CallStore.js';
import { openDatabase, type Db } from '../../../src/storage/database.js';
import { SqliteEventWriter } from '../../../src/storage/SqliteEventWriter.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { logSink } from '../logSink.js';
import { word } from './storeSuite.js';

const json = (events: readonly CallEvent[]): string[] => events.map((e) => JSON.stringify(e));

describe('SqliteEventWriter (the storage thread)', () => {
  let dir: string;
  let db: Db;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-event-thread-'));
    db = openDatabase(dir);
  });

  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('commits a batch with its webhook rows before it resolves; the main connection reads it', async () => {
    const { logger } = logSink();
    const w = new SqliteEventWriter(dir, logger, new FakeClock(0));
    const events = [word('c1', 1, 'hello'), word('c1', 2, 'world')];
    await w.saveEvents(events, json(events), { urls: [['http://a.test/'], []], now: 5000 });
    const store = new CallStore(db);
    expect(store.words('c1').map((x) => [x.seq, x.text, x.startMs])).toEqual([
      [1, 'hello', 100],
      [2, 'world', 200],
    ]);
    expect(db.prepare('SELECT body FROM events WHERE seq = 2').pluck().get()).toBe(JSON.stringify(events[1]));
    expect(db.prepare('SELECT url, call_id, seq, next_attempt_at FROM outbox').all()).toEqual([
      { url: 'http://a.test/', call_id: 'c1', seq: 1, next_attempt_at: 5000 },
    ]);
    await w.close();
  });

  it('a batch the database refuses rejects and leaves nothing; the next one commits', async () => {
    const { logger } = logSink();
    db.exec(`CREATE TRIGGER refuse AFTER INSERT ON events WHEN NEW.seq = 2
             BEGIN SELECT RAISE(ABORT, 'refused'); END`);
    const w = new SqliteEventWriter(dir, logger, new FakeClock(0));
    const bad = [word('c1', 1, 'one'), word('c1', 2, 'two')];
    await expect(w.saveEvents(bad, json(bad))).rejects.toMatchObject({
      code: 'STORAGE_ERR_WRITE',
      message: 'refused',
    });
    const good = [word('c1', 3, 'three')];
    await w.saveEvents(good, json(good));
    expect(db.prepare('SELECT seq FROM events ORDER BY seq').pluck().all()).toEqual([3]);
    await w.close();
  });

  it('a thread that cannot start fails its batch (logged once), and the next batch starts a new one', async () => {
    const { logger, records } = logSink();
    const other = mkdtempSync(join(tmpdir(), 'sipscribe-event-thread-'));
    try {
      // A folder where the database file should be: the thread cannot open it and exits.
      mkdirSync(join(other, 'sipscribe.db'));
      const clock = new FakeClock(0);
      const w = new SqliteEventWriter(other, logger, clock);
      const first = [word('c1', 1, 'lost')];
      await expect(w.saveEvents(first, json(first))).rejects.toMatchObject({ code: 'STORAGE_ERR_WRITE' });
      // Within a second of the failure no thread is started: the batch fails at once.
      clock.advance(999);
      await expect(w.saveEvents(first, json(first))).rejects.toMatchObject({
        code: 'STORAGE_ERR_WRITE',
        message: 'the storage thread is restarting',
      });
      // Logged once (then once per 100), not per batch.
      expect(records.filter((r) => String(r['msg']).startsWith('the storage thread failed'))).toHaveLength(1);
      // The folder is replaced by a database: the next batch's new thread writes it.
      rmdirSync(join(other, 'sipscribe.db'));
      openDatabase(other).close();
      clock.advance(1);
      const next = [word('c1', 2, 'kept')];
      await w.saveEvents(next, json(next));
      const read = openDatabase(other);
      expect(new CallStore(read).words('c1').map((x) => x.text)).toEqual(['kept']);
      read.close();
      await w.close();
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('close() waits for the batches in flight; later batches are refused', async () => {
    const { logger } = logSink();
    const w = new SqliteEventWriter(dir, logger, new FakeClock(0));
    const events = Array.from({ length: 200 }, (_, i) => word('c2', i + 1, `w${i + 1}`));
    const saved = w.saveEvents(events, json(events));
    await w.close();
    await saved;
    expect(db.prepare("SELECT count(*) FROM words WHERE call_id = 'c2'").pluck().get()).toBe(200);
    await expect(w.saveEvents(events, json(events))).rejects.toMatchObject({ code: 'STORAGE_ERR_CLOSED' });
  });
});
