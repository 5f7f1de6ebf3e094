/**
 * The call store on PostgreSQL: Debian's server as a throwaway cluster (test/helpers/postgres.ts),
 * the same suite as SQLite (test/src/storage/storeSuite.ts), and what only a shared server shows:
 * two instances migrating at once, both seeing every call.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../src/call/CallRecord.js';
import { MIGRATIONS } from '../../src/storage/database.js';
import { PgCallStore } from '../../src/storage/PgCallStore.js';
import { PgEventFeed } from '../../src/storage/PgEventFeed.js';
import { openPostgres } from '../../src/storage/postgres.js';
import type { CallEvent, CallMeta } from '../../src/events.js';
import { wallClock } from '../../lib/clock.js';
import pino from 'pino';
import { until } from './e2eHarness.js';
import { startPostgres, type PostgresCluster } from '../helpers/postgres.js';
import { stopAll } from '../helpers/processes.js';
import { describeCallStore, META, word } from '../src/storage/storeSuite.js';

let cluster: PostgresCluster;

const meta = (id: string): CallMeta => ({ ...META, sipCallId: `${id}@192.0.2.4` });
let dbs = 0;

beforeAll(async () => {
  cluster = await startPostgres();
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  await stopAll();
});

describeCallStore('PostgreSQL', async () => {
  const url = await cluster.createDatabase(`suite_${++dbs}`);
  const pool = await openPostgres(url);
  const dir = mkdtempSync(join(tmpdir(), 'sipscribe-pgstore-'));
  return {
    store: new PgCallStore(pool),
    dir,
    close: async () => {
      await pool.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('PostgreSQL shared by several instances', () => {
  it('instances starting together migrate once; each lists the calls of the other', async () => {
    const url = await cluster.createDatabase('shared_1');
    const [p1, p2, p3] = await Promise.all([openPostgres(url), openPostgres(url), openPostgres(url)]);
    try {
      const v = await p1.query<{ version: number }>('SELECT version FROM schema_version');
      expect(v.rows).toEqual([{ version: MIGRATIONS.length }]);
      const one = new PgCallStore(p1);
      const two = new PgCallStore(p2);
      const call = (id: string, createdAt: string): CallRecord => ({
        id,
        meta: meta(id),
        state: 'streaming',
        createdAt,
        answeredAt: createdAt,
        endedAt: null,
        endReason: null,
        rejectStatus: null,
        durationMs: null,
      });
      await one.saveCall(call('on-one', '2026-03-01T10:00:00.000Z'));
      await two.saveCall(call('on-two', '2026-03-01T10:00:01.000Z'));
      expect((await one.listCalls()).map((c) => c.id)).toEqual(['on-two', 'on-one']);
      expect((await new PgCallStore(p3).getCall('on-one'))?.meta.sipCallId).toBe('on-one@192.0.2.4');
    } finally {
      await Promise.all([p1, p2, p3].map((p) => p?.end()));
    }
  });

  it('names the database (without its password) when it cannot connect', async () => {
    const err = await openPostgres(`postgres://sipscribe:hunter2@127.0.0.1:${cluster.port}/no_such_db`).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    );
    expect(err?.code).toBe('STORAGE_ERR_OPEN');
    expect(err?.message).toContain(`127.0.0.1:${cluster.port}/no_such_db`);
    expect(err?.message).not.toContain('hunter2');
  });
});

describe('PgEventFeed', () => {
  it('hands an instance the events the others store, in order, a large one read back; never its own', async () => {
    const url = await cluster.createDatabase('feed_1');
    const pool = await openPostgres(url);
    const got: Record<string, CallEvent[]> = { a: [], b: [] };
    const feeds = ['a', 'b'].map(
      (instance) =>
        new PgEventFeed({
          url,
          pool,
          instance,
          onEvent: (e) => void got[instance]!.push(e),
          clock: wallClock,
          logger: pino({ level: 'silent' }),
        }),
    );
    try {
      await Promise.all(feeds.map((f) => f.start()));
      const store = new PgCallStore(pool, { notifyAs: 'a' });
      const call = meta('feed');
      const common = (seq: number) => ({
        seq,
        callId: 'c1',
        at: '2026-03-01T10:00:00.000Z',
        offsetMs: 0,
        call,
      });
      // 10,000 characters: beyond what a notification carries (8000 bytes).
      const long = 'word '.repeat(2000).trim();
      const events: CallEvent[] = [
        { type: 'call.started', ...common(1) },
        { type: 'transcript.word', text: 'hello', startMs: 0, channel: 'caller', ...common(2) },
        {
          type: 'transcript.utterance',
          text: long,
          startMs: 0,
          endMs: 900,
          words: [],
          channel: 'caller',
          final: true,
          ...common(3),
        },
        { type: 'transcript.word', text: 'again', startMs: 1000, channel: 'caller', ...common(4) },
      ];
      await store.saveEvents(
        events.slice(0, 2),
        events.slice(0, 2).map((e) => JSON.stringify(e)),
      );
      await store.saveEvents(
        events.slice(2),
        events.slice(2).map((e) => JSON.stringify(e)),
      );
      await until(() => got['b']!.length === 4, 'four events at b');
      expect(got['b']).toEqual(events);
      expect(got['a']).toEqual([]);
    } finally {
      await Promise.all(feeds.map((f) => f.stop()));
      await pool.end();
    }
  });
});

describe('PostgreSQL: webhook outbox rows in the event batch', () => {
  it('stores a batch and its outbox rows in one transaction: both or neither', async () => {
    const url = await cluster.createDatabase('outbox_batch');
    const pool = await openPostgres(url);
    try {
      const store = new PgCallStore(pool);
      const batch = [word('w1', 1, 'one'), word('w1', 2, 'two')];
      const json = batch.map((e) => JSON.stringify(e));
      await store.saveEvents(batch, json, {
        urls: [['http://a.test/'], ['http://a.test/', 'http://b.test/']],
        now: 5,
      });
      const rows = async (): Promise<string[]> =>
        (
          await pool.query<{
            url: string;
            call_id: string;
            seq: number;
            body: string;
            next_attempt_at: string;
          }>('SELECT url, call_id, seq, body, next_attempt_at FROM outbox ORDER BY id')
        ).rows.map(
          (r) => `${r.url} ${r.call_id}:${r.seq} ${r.next_attempt_at} ${r.body === json[r.seq - 1]}`,
        );
      expect(await rows()).toEqual([
        'http://a.test/ w1:1 5 true',
        'http://a.test/ w1:2 5 true',
        'http://b.test/ w1:2 5 true',
      ]);
      // An outbox row the database refuses (no URL) takes its batch's events with it.
      const refused = [word('w2', 1, 'lost')];
      await expect(
        store.saveEvents(
          refused,
          refused.map((e) => JSON.stringify(e)),
          {
            urls: [[null as unknown as string]],
            now: 6,
          },
        ),
      ).rejects.toThrow();
      expect(await store.events('w2')).toEqual([]);
      expect((await store.events('w1')).map((e) => e.seq)).toEqual([1, 2]);
      expect(await rows()).toHaveLength(3);
    } finally {
      await pool.end();
    }
  });
});
