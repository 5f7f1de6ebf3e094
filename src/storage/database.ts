/**
 * The SQLite database in `storage.dir` (better-sqlite3, synchronous): WAL journal, foreign keys on,
 * schema created and upgraded by the ordered migrations below (`PRAGMA user_version` records how
 * many ran). A migration is never edited once released; add a new one instead. The same migrations
 * build the PostgreSQL schema (postgres.ts, through {@link postgresDialect}): write them in the
 * SQL both understand.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AppError } from '../errors.js';

export type Db = Database.Database;

/** The file name of the database inside `storage.dir`. */
const DB_FILE = 'sipscribe.db';

export const MIGRATIONS: readonly string[] = [
  // 1: calls, their events, words and utterances; the webhook outbox.
  `
  CREATE TABLE calls (
    id            TEXT PRIMARY KEY,
    sip_call_id   TEXT NOT NULL,
    from_uri      TEXT NOT NULL,
    to_uri        TEXT NOT NULL,
    account       TEXT,
    transport     TEXT NOT NULL,
    codec         TEXT,
    source        TEXT NOT NULL,
    state         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    answered_at   TEXT,
    ended_at      TEXT,
    end_reason    TEXT,
    reject_status INTEGER,
    duration_ms   INTEGER
  );
  CREATE INDEX calls_created ON calls (created_at DESC);
  CREATE TABLE events (
    call_id TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    type    TEXT NOT NULL,
    at      TEXT NOT NULL,
    body    TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
  ) WITHOUT ROWID;
  CREATE TABLE words (
    call_id  TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    text     TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms   INTEGER,
    channel  TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
  ) WITHOUT ROWID;
  CREATE TABLE utterances (
    call_id  TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    text     TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms   INTEGER NOT NULL,
    channel  TEXT NOT NULL,
    words    TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
  ) WITHOUT ROWID;
  CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    url             TEXT NOT NULL,
    call_id         TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    type            TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    status          TEXT NOT NULL DEFAULT 'pending'
  );
  CREATE INDEX outbox_lane ON outbox (url, status, call_id, id);
  `,
  // 2: refused call attempts, aggregated per source address and reason (RefusedStore).
  `
  CREATE TABLE refused (
    source     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    status     INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen  TEXT NOT NULL,
    last_to    TEXT NOT NULL,
    PRIMARY KEY (source, reason)
  ) WITHOUT ROWID;
  CREATE INDEX refused_last_seen ON refused (last_seen);
  `,
  // 3: webhook rows claimed by one instance for a while (instances sharing a PostgreSQL database
  // deliver each row once: see PgOutbox).
  `
  ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
  ALTER TABLE outbox ADD COLUMN claimed_until INTEGER;
  `,
  // 4: the system the call's audio came from (sip, twilio, freeswitch, audiosocket, rtp).
  `ALTER TABLE calls ADD COLUMN ingress TEXT NOT NULL DEFAULT 'sip';`,
  // 5: a SIPREC recording session's participants and recorded call (CallMeta.recording, JSON).
  `ALTER TABLE calls ADD COLUMN recording TEXT;`,
  // 6: the instance that holds the call (CallRecord.instance): with several instances on one
  // PostgreSQL database, a start closes only its own calls left unfinished.
  `ALTER TABLE calls ADD COLUMN instance TEXT;`,
];

/**
 * A migration in PostgreSQL's words: no `WITHOUT ROWID`, an identity column for SQLite's
 * `AUTOINCREMENT`, and 64-bit integers (epoch milliseconds do not fit in 32 bits).
 */
export function postgresDialect(sql: string): string {
  return sql
    .replace(/\)\s*WITHOUT ROWID/g, ')')
    .replace(/INTEGER PRIMARY KEY AUTOINCREMENT/g, 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY')
    .replace(/\bINTEGER\b/g, 'BIGINT');
}

/**
 * Opens (creating if needed) the database in `dir` and brings its schema up to date.
 * @throws AppError `STORAGE_ERR_OPEN` when the folder or file cannot be created or opened.
 */
export function openDatabase(dir: string): Db {
  let db: Db;
  try {
    mkdirSync(dir, { recursive: true });
    db = new Database(join(dir, DB_FILE));
  } catch (err) {
    throw new AppError(
      'STORAGE_ERR_OPEN',
      `cannot open the database in storage.dir ${dir}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  db.pragma('journal_mode = WAL');
  // NORMAL is durable across process crashes in WAL mode (a power loss may lose the last commits).
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

/** Runs the migrations the database has not seen yet, each in a transaction. */
function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let v = current; v < MIGRATIONS.length; v++) {
    const sql = MIGRATIONS[v] ?? '';
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
