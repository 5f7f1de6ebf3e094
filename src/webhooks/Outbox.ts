/**
 * The durable webhook outbox: one row per (webhook URL, event) in the `outbox` table, written in
 * the transaction that stores the event (StorageWriter), deleted once the receiver answered 2xx.
 *
 * Rows of one call for one URL form a lane that is delivered strictly in order: only the oldest
 * pending row of a lane is eligible, so a later event is never sent before an earlier one has been
 * accepted (or given up on, status `dead`). Lanes of different calls proceed independently.
 */
import type { CallEvent, EventType } from '../events.js';
import type { Db } from '../storage/database.js';

/** Which events a webhook receives (config `webhooks[].events`). */
interface WebhookSubscription {
  url: string;
  events: readonly EventType[];
}

/** The URLs of the webhooks subscribed to an event's type, as a function of the event. */
export function webhookRoute(subs: readonly WebhookSubscription[]): (event: CallEvent) => readonly string[] {
  return (event) => subs.filter((s) => s.events.includes(event.type)).map((s) => s.url);
}

export interface OutboxRow {
  id: number;
  url: string;
  call_id: string;
  seq: number;
  type: string;
  body: string;
  created_at: number;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
}

const HEAD = `o.id = (SELECT MIN(p.id) FROM outbox p
  WHERE p.url = o.url AND p.call_id = o.call_id AND p.status = 'pending')`;

export class Outbox {
  readonly #db: Db;
  readonly #insert;
  readonly #due;
  readonly #nextDue;
  readonly #delete;
  readonly #retry;
  readonly #dead;
  readonly #backlog;

  constructor(db: Db) {
    this.#db = db;
    this.#insert = db.prepare(
      `INSERT INTO outbox (url, call_id, seq, type, body, created_at, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#due = db.prepare<[string, number, number], OutboxRow>(
      `SELECT o.* FROM outbox o WHERE o.url = ? AND o.status = 'pending' AND o.next_attempt_at <= ?
       AND ${HEAD} ORDER BY o.id LIMIT ?`,
    );
    this.#nextDue = db.prepare<[string], { next: number | null }>(
      `SELECT MIN(o.next_attempt_at) AS next FROM outbox o WHERE o.url = ? AND o.status = 'pending' AND ${HEAD}`,
    );
    this.#delete = db.prepare('DELETE FROM outbox WHERE id = ?');
    this.#retry = db.prepare(
      'UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?',
    );
    this.#dead = db.prepare(
      "UPDATE outbox SET attempts = attempts + 1, last_error = ?, status = 'dead' WHERE id = ?",
    );
    this.#backlog = db.prepare<[], { url: string; n: number }>(
      "SELECT url, COUNT(*) AS n FROM outbox WHERE status = 'pending' GROUP BY url",
    );
  }

  /** Queues an event for a URL, due at once (`body`: the event's JSON). */
  enqueue(url: string, event: CallEvent, now: number, body = JSON.stringify(event)): void {
    this.#insert.run(url, event.callId, event.seq, event.type, body, now, now);
  }

  /** Queues an event for several URLs in one transaction (inside the caller's, if one is open). */
  enqueueAll(urls: readonly string[], event: CallEvent, now: number, body = JSON.stringify(event)): void {
    if (urls.length === 0) {
      return;
    }
    this.#db.transaction(() => {
      for (const url of urls) {
        this.enqueue(url, event, now, body);
      }
    })();
  }

  /** The heads of this URL's lanes that are due at `now`, oldest first. */
  due(url: string, now: number, limit: number): OutboxRow[] {
    return this.#due.all(url, now, limit);
  }

  /** When the earliest lane head of this URL falls due, or null when nothing is pending. */
  nextDueAt(url: string): number | null {
    return this.#nextDue.get(url)?.next ?? null;
  }

  delivered(id: number): void {
    this.#delete.run(id);
  }

  /** Records a failed attempt and when to try again. */
  failed(id: number, error: string, nextAttemptAt: number): void {
    this.#retry.run(nextAttemptAt, error.slice(0, 500), id);
  }

  /** Gives up on a row (kept with status `dead` for inspection); its lane moves on. */
  dead(id: number, error: string): void {
    this.#dead.run(error.slice(0, 500), id);
  }

  /**
   * Marks pending rows for URLs no longer configured as `dead` (they have no receiver to go to).
   * @returns how many rows that was.
   */
  retireUnconfigured(urls: readonly string[]): number {
    const placeholders = urls.map(() => '?').join(', ');
    const where = urls.length ? `AND url NOT IN (${placeholders})` : '';
    return this.#db
      .prepare(
        `UPDATE outbox SET status = 'dead', last_error = 'webhook no longer configured'
         WHERE status = 'pending' ${where}`,
      )
      .run(...urls).changes;
  }

  /** Pending rows per URL. */
  backlog(): Record<string, number> {
    return Object.fromEntries(this.#backlog.all().map((r) => [r.url, r.n]));
  }
}
