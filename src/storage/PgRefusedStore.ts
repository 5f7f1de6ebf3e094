/**
 * The refused log (RefusedStore) in PostgreSQL (`storage.url`): the same aggregated rows, shared by
 * every instance, so `/api/refused` of any instance shows the attempts refused by all of them.
 * A refusal is one statement (upsert returning the count); past `maxEntries` rows the least
 * recently seen go, as with SQLite.
 */
import type { PgPool } from './postgres.js';
import {
  MAX_LAST_TO,
  toRefusedEntry,
  type RefusedAttempt,
  type RefusedEntry,
  type RefusedLog,
  type RefusedRow,
} from './RefusedStore.js';

export class PgRefusedStore implements RefusedLog {
  readonly #pool: PgPool;
  readonly #maxEntries: number;

  /** @param maxEntries rows kept at most (default 1000); the least recently seen go first. */
  constructor(pool: PgPool, opts: { maxEntries?: number } = {}) {
    this.#pool = pool;
    this.#maxEntries = opts.maxEntries ?? 1000;
  }

  async record(a: RefusedAttempt): Promise<number> {
    const r = await this.#pool.query<{ count: number }>(
      `INSERT INTO refused AS r (source, reason, status, count, first_seen, last_seen, last_to)
       VALUES ($1, $2, $3, 1, $4, $4, $5)
       ON CONFLICT (source, reason) DO UPDATE SET
         count = r.count + 1, status = excluded.status, last_seen = excluded.last_seen, last_to = excluded.last_to
       RETURNING count`,
      [a.source, a.reason, a.status, a.at, a.to.slice(0, MAX_LAST_TO)],
    );
    const count = r.rows[0]?.count ?? 1;
    if (count === 1) {
      await this.#pool.query(
        `DELETE FROM refused WHERE (source, reason) IN
           (SELECT source, reason FROM refused ORDER BY last_seen DESC OFFSET $1)`,
        [this.#maxEntries],
      );
    }
    return count;
  }

  async list(limit = 1000): Promise<RefusedEntry[]> {
    const r = await this.#pool.query<RefusedRow>('SELECT * FROM refused ORDER BY last_seen DESC LIMIT $1', [
      limit,
    ]);
    return r.rows.map(toRefusedEntry);
  }

  async deleteBefore(beforeIso: string): Promise<number> {
    const r = await this.#pool.query('DELETE FROM refused WHERE last_seen < $1', [beforeIso]);
    return r.rowCount ?? 0;
  }
}
