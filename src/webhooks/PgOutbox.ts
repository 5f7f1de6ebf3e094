/**
 * The webhook outbox in PostgreSQL, shared by every instance (`storage.url`): the same rows and
 * lanes as the SQLite `Outbox` (one call, one URL, oldest pending row first), plus a claim, so each
 * row is sent by one instance at a time. `claim` takes the due heads of lanes that nobody holds
 * (`FOR UPDATE SKIP LOCKED`: instances asking together never get the same row) and marks them as
 * this instance's until `now + leaseMs`; the next row of a lane becomes its head only once the head
 * is delivered (deleted) or dead, so a lane stays in order whichever instance sends it. An instance
 * that dies mid-delivery leaves its claims to the others when the lease runs out: a row whose
 * receiver answered 2xx just before the death is then sent again (at least once in that case,
 * exactly once otherwise).
 */
import type { CallEvent } from '../events.js';
import type { PgPool } from '../storage/postgres.js';
import type { OutboxRow } from './Outbox.js';
import type { DeliveryQueue } from './WebhookDispatcher.js';

const HEAD = `o.id = (SELECT MIN(p.id) FROM outbox p
  WHERE p.url = o.url AND p.call_id = o.call_id AND p.status = 'pending')`;

/**
 * The one INSERT of outbox rows (each an event for a URL, `body` its JSON), due at `now`: for the
 * pool, or for the client of the transaction that stores the events. Null when there is no row.
 */
export function outboxInsert(
  rows: readonly { url: string; event: CallEvent; body: string }[],
  now: number,
): { text: string; values: unknown[] } | null {
  if (rows.length === 0) {
    return null;
  }
  const values: unknown[] = [];
  const tuples = rows.map(({ url, event, body }, i) => {
    values.push(url, event.callId, event.seq, event.type, body, now);
    const b = i * 6;
    return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 6})`;
  });
  return {
    text: `INSERT INTO outbox (url, call_id, seq, type, body, created_at, next_attempt_at) VALUES ${tuples.join(', ')}`,
    values,
  };
}

export class PgOutbox implements DeliveryQueue {
  readonly #pool: PgPool;
  readonly #owner: string;
  readonly #leaseMs: number;

  /**
   * @param owner this instance's name in `claimed_by` (unique per running instance).
   * @param leaseMs how long a claim holds (longer than a delivery attempt's timeout).
   */
  constructor(pool: PgPool, owner: string, leaseMs: number) {
    this.#pool = pool;
    this.#owner = owner;
    this.#leaseMs = leaseMs;
  }

  /** Queues an event for several URLs (one statement), due at once. */
  async enqueueAll(urls: readonly string[], event: CallEvent, now: number): Promise<void> {
    const body = JSON.stringify(event);
    const insert = outboxInsert(
      urls.map((url) => ({ url, event, body })),
      now,
    );
    if (insert) {
      await this.#pool.query(insert.text, insert.values);
    }
  }

  /** Claims up to `limit` due lane heads of this URL that no live claim holds, oldest first. */
  async claim(url: string, now: number, limit: number): Promise<OutboxRow[]> {
    const r = await this.#pool.query<OutboxRow>(
      `UPDATE outbox SET claimed_by = $1, claimed_until = $2
       WHERE id IN (
         SELECT o.id FROM outbox o
         WHERE o.url = $3 AND o.status = 'pending' AND o.next_attempt_at <= $4
           AND (o.claimed_until IS NULL OR o.claimed_until <= $4) AND ${HEAD}
         ORDER BY o.id LIMIT $5
         FOR UPDATE SKIP LOCKED)
       RETURNING id, url, call_id, seq, type, body, created_at, attempts, next_attempt_at, last_error`,
      [this.#owner, now + this.#leaseMs, url, now, limit],
    );
    return r.rows.sort((a, b) => a.id - b.id);
  }

  /** The dispatcher's name for {@link claim}. */
  due(url: string, now: number, limit: number): Promise<OutboxRow[]> {
    return this.claim(url, now, limit);
  }

  /** Lets go of this instance's claims (its requests were cut by a stop): others take them now. */
  async release(): Promise<void> {
    await this.#pool.query(
      "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = $1 AND status = 'pending'",
      [this.#owner],
    );
  }

  /**
   * Marks pending rows for URLs not in `urls` as `dead` (every instance sharing the database must
   * have the same `webhooks`: one that lacks a URL retires the others' rows for it).
   */
  async retireUnconfigured(urls: readonly string[]): Promise<number> {
    const r = await this.#pool.query(
      `UPDATE outbox SET status = 'dead', last_error = 'webhook no longer configured'
       WHERE status = 'pending' AND NOT (url = ANY($1))`,
      [urls],
    );
    return r.rowCount ?? 0;
  }

  /**
   * The receiver accepted the row: it goes. False when this instance no longer held the claim (its
   * lease ran out and another instance took the row).
   */
  async delivered(id: number): Promise<boolean> {
    const r = await this.#pool.query('DELETE FROM outbox WHERE id = $1 AND claimed_by = $2', [
      id,
      this.#owner,
    ]);
    return r.rowCount === 1;
  }

  /** A failed attempt: when to try again; the claim is let go. */
  async failed(id: number, error: string, nextAttemptAt: number): Promise<void> {
    await this.#pool.query(
      `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2,
         claimed_by = NULL, claimed_until = NULL
       WHERE id = $3 AND claimed_by = $4`,
      [nextAttemptAt, error.slice(0, 500), id, this.#owner],
    );
  }

  /** Gives up on a row (kept as `dead`); its lane moves on. */
  async dead(id: number, error: string): Promise<void> {
    await this.#pool.query(
      `UPDATE outbox SET attempts = attempts + 1, last_error = $1, status = 'dead',
         claimed_by = NULL, claimed_until = NULL
       WHERE id = $2 AND claimed_by = $3`,
      [error.slice(0, 500), id, this.#owner],
    );
  }

  /** When the earliest lane head of this URL falls due (or its claim runs out), null when none. */
  async nextDueAt(url: string): Promise<number | null> {
    const r = await this.#pool.query<{ next: number | null }>(
      `SELECT MIN(GREATEST(o.next_attempt_at, COALESCE(o.claimed_until, 0))) AS next
       FROM outbox o WHERE o.url = $1 AND o.status = 'pending' AND ${HEAD}`,
      [url],
    );
    return r.rows[0]?.next ?? null;
  }

  /** Pending rows per URL. */
  async backlog(): Promise<Record<string, number>> {
    const r = await this.#pool.query<{ url: string; n: number }>(
      "SELECT url, COUNT(*)::int AS n FROM outbox WHERE status = 'pending' GROUP BY url",
    );
    return Object.fromEntries(r.rows.map((row) => [row.url, row.n]));
  }
}
