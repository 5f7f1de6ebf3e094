import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CallRecord } from '../../../src/call/CallRecord.js';
import { openStorage } from '../../../src/storage/backend.js';
import { CallRowWriter } from '../../../src/storage/CallRowWriter.js';
import { openDatabase } from '../../../src/storage/database.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { logSink } from '../logSink.js';
import { record } from './storeSuite.js';

const row = (id: string, state: CallRecord['state']): CallRecord =>
  record(id, '2026-03-01T10:00:00.000Z', { state, answeredAt: null });

/** A store whose writes complete when the test says so, or fail while `down`. */
function slowStore() {
  const batches: [string, string][][] = [];
  const waiting: (() => void)[] = [];
  const s = {
    down: false,
    batches,
    /** Completes the oldest write in flight. */
    release: (): void => waiting.shift()?.(),
    saveCalls(records: readonly CallRecord[]): Promise<void> {
      if (s.down) {
        return Promise.reject(new Error('connection refused'));
      }
      batches.push(records.map((r) => [r.id, r.state]));
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
  };
  return s;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('CallRowWriter', () => {
  it('writes one batch at a time; changes made meanwhile go in the next, each call in its latest state', async () => {
    const store = slowStore();
    const w = new CallRowWriter({ store, clock: new FakeClock(0), logger: logSink().logger });
    w.saveCall(row('a', 'offered'));
    w.saveCall(row('b', 'offered'));
    await tick();
    expect(store.batches).toEqual([
      [
        ['a', 'offered'],
        ['b', 'offered'],
      ],
    ]);
    // While the first batch is in flight, a goes through three states and b through one.
    w.saveCall(row('a', 'answered'));
    w.saveCall(row('b', 'cancelled'));
    w.saveCall(row('a', 'streaming'));
    w.saveCall(row('a', 'ending'));
    expect(w.queued).toBe(2);
    store.release();
    await tick();
    expect(store.batches[1]).toEqual([
      ['a', 'ending'],
      ['b', 'cancelled'],
    ]);
    const flushed = w.flush();
    store.release();
    await flushed;
    expect(w.queued).toBe(0);
  });

  it('a failed batch is logged once, counted and tried again later, unless a newer state came', async () => {
    const store = slowStore();
    const clock = new FakeClock(0);
    const log = logSink();
    const failed: number[] = [];
    const w = new CallRowWriter({
      store,
      clock,
      logger: log.logger,
      retryMs: 1000,
      onFailure: (n) => failed.push(n),
    });
    store.down = true;
    w.saveCall(row('a', 'offered'));
    w.saveCall(row('b', 'offered'));
    await tick();
    expect(failed).toEqual([2]);
    expect(clock.pending).toBe(1);
    w.saveCall(row('b', 'answered')); // waits for the retry
    await tick();
    expect(failed).toEqual([2]);
    store.down = false;
    clock.advance(1000);
    await tick();
    expect(store.batches).toEqual([
      [
        ['a', 'offered'],
        ['b', 'answered'],
      ],
    ]);
    store.release();
    await w.flush();
    expect(log.records.filter((r) => r['msg'] === 'cannot store call rows')).toHaveLength(1);
  });
});

describe('SQLite storage: call rows', () => {
  it("writes a tick's changes at its end, each call once in its latest state; close() writes what is noted", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipscribe-rows-'));
    const { logger } = logSink();
    const storage = await openStorage({ dir, webhookTimeoutMs: 10_000, clock: new FakeClock(), logger });
    const db = openDatabase(dir);
    try {
      // Every row written to the calls table, inserted or updated (an upsert that updates is an UPDATE).
      db.exec(`CREATE TABLE writes_seen (id TEXT);
               CREATE TRIGGER seen_insert AFTER INSERT ON calls BEGIN INSERT INTO writes_seen VALUES (NEW.id); END;
               CREATE TRIGGER seen_update AFTER UPDATE ON calls BEGIN INSERT INTO writes_seen VALUES (NEW.id); END;`);
      storage.rows.saveCall(row('a', 'offered'));
      storage.rows.saveCall(row('a', 'answered'));
      storage.rows.saveCall(row('b', 'offered'));
      const states = (): string[] =>
        db
          .prepare<[], { id: string; state: string }>('SELECT id, state FROM calls ORDER BY id')
          .all()
          .map((r) => `${r.id} ${r.state}`);
      expect(states()).toEqual([]); // noted, not yet written
      await tick();
      expect(states()).toEqual(['a answered', 'b offered']);
      // 'a' was written once, in its latest state.
      const writes = (): string[] =>
        db
          .prepare<[], { id: string }>('SELECT id FROM writes_seen ORDER BY rowid')
          .all()
          .map((r) => r.id);
      expect(writes()).toEqual(['a', 'b']);
      storage.rows.saveCall(row('b', 'ended'));
      await storage.close(); // writes what is noted first
      expect(states()).toEqual(['a answered', 'b ended']);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
