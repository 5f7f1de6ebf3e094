import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../../src/call/CallRecord.js';
import type { CallEvent, CallMeta } from '../../../src/events.js';
import { sqliteAsync } from '../../../src/storage/AsyncCallStore.js';
import { CallStore } from '../../../src/storage/CallStore.js';
import { openDatabase, type Db } from '../../../src/storage/database.js';
import { RefusedStore } from '../../../src/storage/RefusedStore.js';
import { Retention } from '../../../src/storage/Retention.js';
import { Outbox } from '../../../src/webhooks/Outbox.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { logSink } from '../logSink.js';

const META: CallMeta = {
  sipCallId: 'r@192.0.2.4',
  from: 'sip:alice@example.com',
  to: 'sip:1001@192.0.2.10',
  account: null,
  transport: 'udp',
  codec: 'PCMU',
  source: '192.0.2.4:5060',
};
const NOW = Date.UTC(2026, 5, 30, 12, 0, 0);
const DAY = 86_400_000;
const iso = (ms: number): string => new Date(ms).toISOString();

function call(id: string, endedAt: number | null, patch: Partial<CallRecord> = {}): CallRecord {
  const created = (endedAt ?? NOW - 30 * DAY) - 60_000;
  return {
    id,
    meta: META,
    state: endedAt === null ? 'streaming' : 'ended',
    createdAt: iso(created),
    answeredAt: iso(created),
    endedAt: endedAt === null ? null : iso(endedAt),
    endReason: endedAt === null ? null : 'bye-remote',
    rejectStatus: null,
    durationMs: endedAt === null ? null : 60_000,
    ...patch,
  };
}

function started(callId: string): CallEvent {
  return { type: 'call.started', seq: 1, callId, at: iso(NOW), offsetMs: 0, call: META };
}

describe('Retention', () => {
  let dir = '';
  let db: Db;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-retention-'));
    db = openDatabase(dir);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('deletes refused-attempt rows not seen for retentionDays; a source still refused stays', async () => {
    const refused = new RefusedStore(db);
    const attempt = { reason: 'not-allowed', status: 403, to: 'sip:1001@192.0.2.10' };
    refused.record({ ...attempt, source: '192.0.2.66', at: iso(NOW - 8 * DAY) });
    refused.record({ ...attempt, source: '192.0.2.77', at: iso(NOW - 8 * DAY) });
    refused.record({ ...attempt, source: '192.0.2.77', at: iso(NOW - 1 * DAY) });
    const retention = new Retention({
      days: 7,
      store: sqliteAsync(new CallStore(db)),
      refused,
      filesOf: () => [],
      clock: new FakeClock(NOW),
      logger: logSink().logger,
    });
    await retention.sweep();
    expect(refused.list().map((r) => [r.source, r.count, r.firstSeen])).toEqual([
      ['192.0.2.77', 2, iso(NOW - 8 * DAY)],
    ]);
  });

  it('deletes calls over for longer than retentionDays with their rows and files, at start and hourly', async () => {
    const clock = new FakeClock(NOW);
    const store = new CallStore(db);
    const outbox = new Outbox(db);
    const calls = [
      call('old', NOW - 8 * DAY),
      call('old-rejected', null, { state: 'rejected', rejectStatus: 486, endedAt: iso(NOW - 9 * DAY) }),
      call('old-webhook-pending', NOW - 8 * DAY),
      call('old-webhook-dead', NOW - 8 * DAY),
      call('still-active', null),
      call('recent', NOW - 6 * DAY - 23 * 3_600_000 - 30 * 60_000), // 7 days less 30 minutes
    ];
    mkdirSync(join(dir, 'calls'), { recursive: true });
    for (const c of calls) {
      store.saveCall(c);
      store.saveEvent(started(c.id));
      writeFileSync(join(dir, 'calls', `${c.id}.jsonl`), '{}\n');
    }
    outbox.enqueue('http://127.0.0.1:9/hook', started('old-webhook-pending'), NOW);
    outbox.enqueue('http://127.0.0.1:9/hook', started('old-webhook-dead'), NOW);
    db.prepare("UPDATE outbox SET status = 'dead' WHERE call_id = 'old-webhook-dead'").run();

    const log = logSink();
    const retention = new Retention({
      days: 7,
      store: sqliteAsync(store),
      filesOf: (id) => [join(dir, 'calls', `${id}.jsonl`)],
      clock,
      logger: log.logger,
    });
    retention.start();
    await retention.settled();
    const left = (): string[] =>
      db
        .prepare<[], { id: string }>('SELECT id FROM calls ORDER BY id')
        .all()
        .map((r) => r.id);
    expect(left()).toEqual(['old-webhook-pending', 'recent', 'still-active']);
    expect(store.events('old')).toEqual([]);
    expect(db.prepare('SELECT call_id FROM outbox').all()).toEqual([{ call_id: 'old-webhook-pending' }]);
    expect(existsSync(join(dir, 'calls', 'old.jsonl'))).toBe(false);
    expect(existsSync(join(dir, 'calls', 'recent.jsonl'))).toBe(true);

    // An hour later the next sweep finds `recent` past the limit.
    clock.advance(3_600_000);
    await retention.settled();
    expect(left()).toEqual(['old-webhook-pending', 'still-active']);
    expect(existsSync(join(dir, 'calls', 'recent.jsonl'))).toBe(false);
    retention.stop();
    expect(clock.pending).toBe(0);

    // An explicit delete takes the undelivered webhook events with it; an active call stays.
    expect(store.deleteCall('old-webhook-pending')).toBe(true);
    expect(db.prepare('SELECT COUNT(*) AS n FROM outbox').get()).toEqual({ n: 0 });
    expect(store.deleteCall('still-active')).toBe(false);
    expect(store.deleteCall('no-such-call')).toBe(false);
    expect(left()).toEqual(['still-active']);
  });

  it('keeps everything with retentionDays 0 and schedules nothing', () => {
    const clock = new FakeClock(NOW);
    const store = new CallStore(db);
    store.saveCall(call('ancient', NOW - 3650 * DAY));
    new Retention({
      days: 0,
      store: sqliteAsync(store),
      filesOf: () => [],
      clock,
      logger: logSink().logger,
    }).start();
    expect(store.getCall('ancient')?.state).toBe('ended');
    expect(clock.pending).toBe(0);
  });
});
