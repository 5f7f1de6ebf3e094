/**
 * Refused call attempts, aggregated: one row per (source address, reason) with a count, the first
 * and last time seen, the last status sent and the last URI called. An INVITE refused before it
 * became a call (allow list, limits, STT full at the INVITE, authentication, the SIP stack's own
 * 4xx) lands here instead of in `calls`, so 2,000 INVITEs from a scanner are one row, not 2,000
 * call records burying the real calls. Bounded: past `maxEntries` rows the least recently seen
 * go; retention (`storage.retentionDays`) deletes rows not seen for that long.
 */
import type { Db } from './database.js';

/** One aggregated row, as the API shows it. */
export interface RefusedEntry {
  /** The source IP address (no port: a scanner changes ports). */
  readonly source: string;
  /** Why (`not-allowed`, `max-calls`, `per-source-limit`, `stt-full`, `auth-failed`, `no-codec`, …). */
  readonly reason: string;
  /** The last SIP status sent for it. */
  readonly status: number;
  readonly count: number;
  readonly firstSeen: string;
  readonly lastSeen: string;
  /** The last Request-URI/To called (cut to 200 characters). */
  readonly lastTo: string;
}

/** One refused attempt to record. */
export interface RefusedAttempt {
  readonly source: string;
  readonly reason: string;
  readonly status: number;
  readonly to: string;
  /** ISO time of the refusal. */
  readonly at: string;
}

export interface RefusedRow {
  source: string;
  reason: string;
  status: number;
  count: number;
  first_seen: string;
  last_seen: string;
  last_to: string;
}

/** The refused log as every backend offers it (SQLite answers at once, PostgreSQL with promises). */
export interface RefusedLog {
  /** Counts one refused attempt; answers the row's count after it (1: the first of its kind). */
  record(a: RefusedAttempt): number | Promise<number>;
  /** The rows, most recently seen first. */
  list(limit?: number): RefusedEntry[] | Promise<RefusedEntry[]>;
  /** Deletes the rows last seen before `beforeIso`; answers how many. */
  deleteBefore(beforeIso: string): number | Promise<number>;
}

/** The last Request-URI/To kept per row. */
export const MAX_LAST_TO = 200;

export function toRefusedEntry(r: RefusedRow): RefusedEntry {
  return {
    source: r.source,
    reason: r.reason,
    status: r.status,
    count: r.count,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    lastTo: r.last_to,
  };
}

export class RefusedStore implements RefusedLog {
  readonly #db: Db;
  readonly #maxEntries: number;
  readonly #upsert;
  readonly #count;
  readonly #size;
  readonly #trim;
  readonly #list;
  readonly #deleteBefore;

  /** @param maxEntries rows kept at most (default 1000); the least recently seen go first. */
  constructor(db: Db, opts: { maxEntries?: number } = {}) {
    this.#db = db;
    this.#maxEntries = opts.maxEntries ?? 1000;
    this.#upsert = db.prepare(
      `INSERT INTO refused (source, reason, status, count, first_seen, last_seen, last_to)
       VALUES (?, ?, ?, 1, ?, ?, ?)
       ON CONFLICT (source, reason) DO UPDATE SET
         count = count + 1, status = excluded.status, last_seen = excluded.last_seen, last_to = excluded.last_to`,
    );
    this.#count = db.prepare<[string, string], { count: number }>(
      'SELECT count FROM refused WHERE source = ? AND reason = ?',
    );
    this.#size = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM refused');
    this.#trim = db.prepare(
      `DELETE FROM refused WHERE (source, reason) IN
         (SELECT source, reason FROM refused ORDER BY last_seen DESC LIMIT -1 OFFSET ?)`,
    );
    this.#list = db.prepare<[number], RefusedRow>('SELECT * FROM refused ORDER BY last_seen DESC LIMIT ?');
    this.#deleteBefore = db.prepare('DELETE FROM refused WHERE last_seen < ?');
  }

  /**
   * Counts one refused attempt.
   * @returns the row's count after it (1: the first refusal of this source for this reason).
   */
  record(a: RefusedAttempt): number {
    return this.#db.transaction(() => {
      this.#upsert.run(a.source, a.reason, a.status, a.at, a.at, a.to.slice(0, MAX_LAST_TO));
      const count = this.#count.get(a.source, a.reason)?.count ?? 1;
      if (count === 1 && (this.#size.get()?.n ?? 0) > this.#maxEntries) {
        this.#trim.run(this.#maxEntries);
      }
      return count;
    })();
  }

  /** The rows, most recently seen first. */
  list(limit = 1000): RefusedEntry[] {
    return this.#list.all(limit).map(toRefusedEntry);
  }

  /** Deletes the rows last seen before `beforeIso`; returns how many. */
  deleteBefore(beforeIso: string): number {
    return this.#deleteBefore.run(beforeIso).changes;
  }
}
