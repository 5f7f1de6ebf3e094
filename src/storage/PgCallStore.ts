/**
 * Calls, events, words and utterances in PostgreSQL (`storage.url`): the same tables and rows as
 * the SQLite `CallStore`, shared by every instance that points at the database. Event batches are
 * one transaction (`saveEvents`, from StorageWriter); replayed events are ignored on `(call_id, seq)`.
 */
import type { CallRecord } from '../call/CallRecord.js';
import type { CallEvent } from '../events.js';
import { outboxInsert } from '../webhooks/PgOutbox.js';
import type { AsyncCallStore } from './AsyncCallStore.js';
import {
  CLOSED_STATES,
  containsPattern,
  toRecord,
  toRow,
  toUtterance,
  toWord,
  type CallRow,
  type ListCallsOptions,
  type StoredUtterance,
  type StoredWord,
  type UtteranceRow,
  type WordRow,
} from './CallStore.js';
import { notifyPayload, NOTIFY_CHANNEL } from './PgEventFeed.js';
import { inTransaction, type PgPool } from './postgres.js';
import type { BatchWebhooks, EventStore } from './StorageWriter.js';

const CALL_COLUMNS = [
  'id',
  'sip_call_id',
  'from_uri',
  'to_uri',
  'account',
  'transport',
  'codec',
  'source',
  'ingress',
  'recording',
  'instance',
  'state',
  'created_at',
  'answered_at',
  'ended_at',
  'end_reason',
  'reject_status',
  'duration_ms',
] as const;

/** The upsert of `rows` call rows (one statement). */
function upsertCalls(rows: number): string {
  return `INSERT INTO calls (${CALL_COLUMNS.join(', ')})
  VALUES ${placeholders(rows, CALL_COLUMNS.length)}
  ON CONFLICT (id) DO UPDATE SET ${CALL_COLUMNS.slice(1)
    .filter((c) => c !== 'created_at')
    .map((c) => `${c} = excluded.${c}`)
    .join(', ')}`;
}

/** `($1, $2, …), ($n+1, …)` for `rows` rows of `width` parameters. */
function placeholders(rows: number, width: number): string {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    out.push(`(${Array.from({ length: width }, (_, i) => `$${r * width + i + 1}`).join(', ')})`);
  }
  return out.join(', ');
}

export class PgCallStore implements AsyncCallStore, EventStore {
  readonly #pool: PgPool;
  readonly #notifyAs: string | undefined;

  /**
   * @param opts.notifyAs this instance's name: each event batch also NOTIFYs its events (delivered
   *   at commit, in order) so the other instances' live feeds show them (PgEventFeed).
   */
  constructor(pool: PgPool, opts: { notifyAs?: string } = {}) {
    this.#pool = pool;
    this.#notifyAs = opts.notifyAs;
  }

  async saveCall(record: CallRecord): Promise<void> {
    await this.saveCalls([record]);
  }

  /** Several calls' rows in one statement (at most one record per call id). */
  async saveCalls(records: readonly CallRecord[]): Promise<void> {
    if (records.length === 0) {
      return;
    }
    const values = records.flatMap((record) => {
      const row = toRow(record);
      return CALL_COLUMNS.map((c) => row[c]);
    });
    await this.#pool.query(upsertCalls(records.length), values);
  }

  /**
   * A batch of events in one transaction: one multi-row INSERT per table, the batch's webhook
   * outbox rows (`webhooks`) included.
   */
  async saveEvents(
    events: readonly CallEvent[],
    json?: readonly string[],
    webhooks?: BatchWebhooks,
  ): Promise<void> {
    if (events.length === 0) {
      return;
    }
    const ev: unknown[] = [];
    const words: unknown[] = [];
    const utterances: unknown[] = [];
    events.forEach((e, i) => {
      ev.push(e.callId, e.seq, e.type, e.at, json?.[i] ?? JSON.stringify(e));
      if (e.type === 'transcript.word') {
        words.push(e.callId, e.seq, e.text, e.startMs, e.endMs ?? null, e.channel);
      } else if (e.type === 'transcript.utterance') {
        utterances.push(e.callId, e.seq, e.text, e.startMs, e.endMs, e.channel, JSON.stringify(e.words));
      }
    });
    await inTransaction(this.#pool, async (c) => {
      await c.query(
        `INSERT INTO events (call_id, seq, type, at, body) VALUES ${placeholders(ev.length / 5, 5)}
         ON CONFLICT DO NOTHING`,
        ev,
      );
      if (words.length > 0) {
        await c.query(
          `INSERT INTO words (call_id, seq, text, start_ms, end_ms, channel)
           VALUES ${placeholders(words.length / 6, 6)} ON CONFLICT DO NOTHING`,
          words,
        );
      }
      if (utterances.length > 0) {
        await c.query(
          `INSERT INTO utterances (call_id, seq, text, start_ms, end_ms, channel, words)
           VALUES ${placeholders(utterances.length / 7, 7)} ON CONFLICT DO NOTHING`,
          utterances,
        );
      }
      const hooks = outboxInsert(
        (webhooks?.urls ?? []).flatMap((urls, i) =>
          urls.map((url) => ({ url, event: events[i]!, body: json?.[i] ?? JSON.stringify(events[i]) })),
        ),
        webhooks?.now ?? 0,
      );
      if (hooks) {
        await c.query(hooks.text, hooks.values);
      }
      const from = this.#notifyAs;
      if (from !== undefined) {
        await c.query(`SELECT pg_notify('${NOTIFY_CHANNEL}', p) FROM unnest($1::text[]) AS p`, [
          events.map((e, i) => notifyPayload(from, e, json?.[i] ?? JSON.stringify(e))),
        ]);
      }
    });
  }

  async getCall(id: string): Promise<CallRecord | undefined> {
    const r = await this.#pool.query<CallRow>('SELECT * FROM calls WHERE id = $1', [id]);
    return r.rows[0] ? toRecord(r.rows[0]) : undefined;
  }

  async listCalls(opts: ListCallsOptions = {}): Promise<CallRecord[]> {
    const limit = Math.min(Math.max(1, opts.limit ?? 50), 500);
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (opts.before !== undefined) {
      params.push(opts.before);
      where.push(`created_at < $${params.length}`);
    }
    if (opts.recording !== undefined) {
      params.push(containsPattern(opts.recording));
      where.push(`recording ILIKE $${params.length} ESCAPE '\\'`);
    }
    params.push(limit);
    const r = await this.#pool.query<CallRow>(
      `SELECT * FROM calls ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ` +
        `ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    return r.rows.map(toRecord);
  }

  async utterances(callId: string): Promise<StoredUtterance[]> {
    const r = await this.#pool.query<UtteranceRow>(
      'SELECT seq, text, start_ms, end_ms, channel, words FROM utterances WHERE call_id = $1 ORDER BY seq',
      [callId],
    );
    return r.rows.map(toUtterance);
  }

  async words(callId: string): Promise<StoredWord[]> {
    const r = await this.#pool.query<WordRow>(
      'SELECT seq, text, start_ms, end_ms, channel FROM words WHERE call_id = $1 ORDER BY seq',
      [callId],
    );
    return r.rows.map(toWord);
  }

  async events(callId: string): Promise<CallEvent[]> {
    const r = await this.#pool.query<{ body: string }>(
      'SELECT body FROM events WHERE call_id = $1 ORDER BY seq',
      [callId],
    );
    return r.rows.map((row) => JSON.parse(row.body) as CallEvent);
  }

  async unfinishedCalls(instance?: string): Promise<CallRecord[]> {
    const r = await this.#pool.query<CallRow>(
      `SELECT * FROM calls WHERE NOT (state = ANY($1)) ${instance === undefined ? '' : 'AND instance = $2'}
       ORDER BY created_at, id`,
      instance === undefined ? [CLOSED_STATES] : [CLOSED_STATES, instance],
    );
    return r.rows.map(toRecord);
  }

  async lastEvent(callId: string): Promise<{ seq: number; type: string; at: string } | undefined> {
    const r = await this.#pool.query<{ seq: number; type: string; at: string }>(
      'SELECT seq, type, at FROM events WHERE call_id = $1 ORDER BY seq DESC LIMIT 1',
      [callId],
    );
    return r.rows[0];
  }

  async deleteCallsOver(beforeIso: string, instance?: string): Promise<string[]> {
    return await inTransaction(this.#pool, async (c) => {
      // Instances sweeping together: a row another one deletes first is skipped once it commits.
      const r = await c.query<{ id: string }>(
        `SELECT c.id FROM calls c
         WHERE c.state = ANY($1) AND COALESCE(c.ended_at, c.created_at) < $2
           AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.call_id = c.id AND o.status = 'pending')
           ${instance === undefined ? '' : 'AND c.instance = $3'}
         FOR UPDATE`,
        instance === undefined ? [CLOSED_STATES, beforeIso] : [CLOSED_STATES, beforeIso, instance],
      );
      const ids = r.rows.map((row) => row.id);
      await deleteRows(c, ids);
      return ids;
    });
  }

  async deleteCall(id: string): Promise<boolean> {
    return await inTransaction(this.#pool, async (c) => {
      const r = await c.query<{ state: string }>('SELECT state FROM calls WHERE id = $1 FOR UPDATE', [id]);
      const state = r.rows[0]?.state;
      if (state === undefined || !CLOSED_STATES.includes(state)) {
        return false;
      }
      await deleteRows(c, [id]);
      return true;
    });
  }
}

async function deleteRows(c: { query: PgPool['query'] }, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) {
    return;
  }
  for (const table of ['events', 'words', 'utterances', 'outbox']) {
    await c.query(`DELETE FROM ${table} WHERE call_id = ANY($1)`, [ids]);
  }
  await c.query('DELETE FROM calls WHERE id = ANY($1)', [ids]);
}
