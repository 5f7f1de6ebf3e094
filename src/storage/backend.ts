/**
 * The storage the endpoint runs on, chosen by `storage.url`: the embedded SQLite database in
 * `storage.dir` (the default), or a PostgreSQL database shared by several instances. Either way
 * the same parts come out, for the same users: events in batches (StorageWriter), call rows
 * (CallRegistry), reads (API, recovery, retention), the refused log and the webhook outbox. JSONL
 * files, recordings and pending audio stay in `storage.dir` with both.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../../lib/clock.js';
import type { CallRecord } from '../call/CallRecord.js';
import type { CallEvent } from '../events.js';
import type { Logger } from '../logger.js';
import { Outbox } from '../webhooks/Outbox.js';
import { PgOutbox } from '../webhooks/PgOutbox.js';
import type { DeliveryQueue } from '../webhooks/WebhookDispatcher.js';
import { sqliteAsync, type AsyncCallStore } from './AsyncCallStore.js';
import { CallRowWriter } from './CallRowWriter.js';
import { CallStore } from './CallStore.js';
import { openDatabase } from './database.js';
import { PgCallStore } from './PgCallStore.js';
import { PgEventFeed } from './PgEventFeed.js';
import { PgRefusedStore } from './PgRefusedStore.js';
import { openPostgres } from './postgres.js';
import { RefusedStore, type RefusedLog } from './RefusedStore.js';
import { SqliteEventWriter } from './SqliteEventWriter.js';
import type { EventStore } from './StorageWriter.js';

/** The webhook outbox as the dispatcher empties it (rows go in with their events: `events`). */
interface WebhookQueue extends DeliveryQueue {
  /** Pending rows per URL. */
  backlog(): Record<string, number> | Promise<Record<string, number>>;
}

interface Storage {
  readonly kind: 'sqlite' | 'postgres';
  /** This instance's name in a shared database (PostgreSQL); undefined with SQLite. */
  readonly instance: string | undefined;
  /** Where the storage sink writes its batches of events, with their webhook outbox rows. */
  readonly events: EventStore;
  /** Where the call registry writes call rows (noted, written in one batch at the end of the tick). */
  readonly rows: { saveCall(record: CallRecord): void };
  /** Every stored call, for the API, the recovery at start and retention. */
  readonly calls: AsyncCallStore;
  readonly refused: RefusedLog;
  readonly outbox: WebhookQueue;
  /**
   * Hands `onEvent` every event the other instances sharing the database store (PostgreSQL; absent
   * with SQLite), until `stop`.
   */
  othersEvents?(onEvent: (event: CallEvent) => void): Promise<{ stop(): Promise<void> }>;
  /** The `storage` readiness check: the database answers. */
  ready(): boolean | Promise<boolean>;
  /** Writes the queued call rows, then closes the database. */
  close(): Promise<void>;
}

interface StorageOptions {
  dir: string;
  url?: string | undefined;
  instanceId?: string | undefined;
  /** The longest webhook request (`webhooks[].timeoutMs`): claims of outbox rows outlast it. */
  webhookTimeoutMs: number;
  clock: Clock;
  logger: Logger;
  /** Called once per call row that could not be written. */
  onRowFailure?: (rows: number) => void;
}

/**
 * Opens the storage of `storage.url` (PostgreSQL) or `storage.dir` (SQLite), migrating its schema.
 * @throws AppError `STORAGE_ERR_OPEN` when the database cannot be opened.
 */
export async function openStorage(o: StorageOptions): Promise<Storage> {
  if (o.url === undefined) {
    return sqliteStorage(o);
  }
  const pool = await openPostgres(o.url);
  const instance = o.instanceId ?? keptInstanceId(o.dir);
  const url = o.url;
  const store = new PgCallStore(pool, { notifyAs: instance });
  const rows = callRows(store, o);
  // Unique per process: a restarted instance never mistakes a claim of its previous run for its own.
  const owner = `${instance}/${randomUUID().slice(0, 8)}`;
  return {
    kind: 'postgres',
    instance,
    events: store,
    rows,
    calls: store,
    refused: new PgRefusedStore(pool),
    outbox: new PgOutbox(pool, owner, Math.max(30_000, 3 * o.webhookTimeoutMs)),
    async othersEvents(onEvent) {
      const feed = new PgEventFeed({ url, pool, instance, onEvent, clock: o.clock, logger: o.logger });
      await feed.start();
      return feed;
    },
    async ready() {
      await pool.query('SELECT 1');
      return true;
    },
    async close() {
      await rows.flush();
      await pool.end();
    },
  };
}

/** The call rows of a store, written behind the registry in batches (`CallRowWriter`). */
function callRows(
  store: { saveCalls(records: readonly CallRecord[]): Promise<void> },
  o: StorageOptions,
): CallRowWriter {
  return new CallRowWriter({
    store,
    clock: o.clock,
    logger: o.logger,
    ...(o.onRowFailure ? { onFailure: o.onRowFailure } : {}),
  });
}

function sqliteStorage(o: StorageOptions): Storage {
  const db = openDatabase(o.dir);
  const store = new CallStore(db);
  const outbox = new Outbox(db);
  // Event batches (with their outbox rows) are written by a worker thread: off the event loop.
  const events = new SqliteEventWriter(o.dir, o.logger, o.clock);
  // Call rows: the changes of one tick (a call's several states, many calls in a burst) in one
  // transaction at its end, each call once in its latest state (a row per change cost a
  // transaction each: 4 % of the main thread at 200 call setups a second).
  const rows = callRows(
    {
      // A throw (disk full, database locked) becomes the writer's failed batch, tried again.
      saveCalls: (records) => new Promise((resolve) => resolve(store.saveCalls(records))),
    },
    o,
  );
  return {
    kind: 'sqlite',
    instance: undefined,
    events,
    rows,
    calls: sqliteAsync(store),
    refused: new RefusedStore(db),
    outbox,
    ready: () => db.open,
    async close() {
      await rows.flush();
      await events.close();
      db.close();
    },
  };
}

/** File in `storage.dir` holding the instance name made at the first start (`storage.instanceId`). */
const INSTANCE_FILE = 'instance-id';

/** The instance name kept in `dir`, made (and kept) at the first start. */
function keptInstanceId(dir: string): string {
  const file = join(dir, INSTANCE_FILE);
  try {
    const kept = readFileSync(file, 'utf8').trim();
    if (kept) {
      return kept;
    }
  } catch {
    // Not made yet.
  }
  const id = randomUUID();
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, `${id}\n`, { flag: 'w' });
  return id;
}
