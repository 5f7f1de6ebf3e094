/**
 * Reads and writes calls, events, words and utterances in the database. Synchronous (better-sqlite3);
 * each write is one short transaction (`saveCalls`: one for the batch).
 */
import type { CallRecord } from '../call/CallRecord.js';
import type { CallState } from '../call/callStates.js';
import type {
  CallEvent,
  EndReason,
  IngressKind,
  RecordingMeta,
  TranscriptUtterance,
  TranscriptWord,
} from '../events.js';
import type { Db } from './database.js';

/** A row of `calls` (SQLite and PostgreSQL alike). */
export interface CallRow {
  id: string;
  sip_call_id: string;
  from_uri: string;
  to_uri: string;
  account: string | null;
  transport: string;
  codec: string | null;
  source: string;
  ingress: string;
  /** `CallMeta.recording` as JSON (SIPREC sessions only). */
  recording: string | null;
  /** The instance holding the call (`CallRecord.instance`). */
  instance: string | null;
  state: string;
  created_at: string;
  answered_at: string | null;
  ended_at: string | null;
  end_reason: string | null;
  reject_status: number | null;
  duration_ms: number | null;
}

export interface UtteranceRow {
  seq: number;
  text: string;
  start_ms: number;
  end_ms: number;
  channel: string;
  words: string;
}

/** A stored utterance with its event seq. */
export interface StoredUtterance extends TranscriptUtterance {
  readonly seq: number;
}

export interface ListCallsOptions {
  /** At most this many (default 50, max 500). */
  limit?: number;
  /** Only calls created strictly before this ISO time (paging: pass the last `createdAt`). */
  before?: string;
  /**
   * Only SIPREC recording sessions whose metadata (a participant's aor or name, the recorded call's
   * Session-ID) contains this text, ignoring ASCII case.
   */
  recording?: string;
}

/** `text` as a LIKE pattern that matches it anywhere, its `%`, `_` and `\` taken literally (ESCAPE '\'). */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export function toRecord(r: CallRow): CallRecord {
  return {
    id: r.id,
    meta: {
      sipCallId: r.sip_call_id,
      from: r.from_uri,
      to: r.to_uri,
      account: r.account,
      transport: r.transport as CallRecord['meta']['transport'],
      codec: r.codec,
      source: r.source,
      ...(r.ingress === 'sip' ? {} : { ingress: r.ingress as IngressKind }),
      ...(r.recording === null ? {} : { recording: JSON.parse(r.recording) as RecordingMeta }),
    },
    state: r.state as CallState,
    createdAt: r.created_at,
    answeredAt: r.answered_at,
    endedAt: r.ended_at,
    endReason: r.end_reason as EndReason | null,
    rejectStatus: r.reject_status,
    durationMs: r.duration_ms,
    ...(r.instance === null ? {} : { instance: r.instance }),
  };
}

/** The `calls` row of a record. */
export function toRow(record: CallRecord): CallRow {
  return {
    id: record.id,
    sip_call_id: record.meta.sipCallId,
    from_uri: record.meta.from,
    to_uri: record.meta.to,
    account: record.meta.account,
    transport: record.meta.transport,
    codec: record.meta.codec,
    source: record.meta.source,
    ingress: record.meta.ingress ?? 'sip',
    recording: record.meta.recording ? JSON.stringify(record.meta.recording) : null,
    instance: record.instance ?? null,
    state: record.state,
    created_at: record.createdAt,
    answered_at: record.answeredAt,
    ended_at: record.endedAt,
    end_reason: record.endReason,
    reject_status: record.rejectStatus,
    duration_ms: record.durationMs,
  };
}

export interface WordRow {
  seq: number;
  text: string;
  start_ms: number;
  end_ms: number | null;
  channel: string;
}

/** A stored word with its event seq and channel. */
export type StoredWord = TranscriptWord & { seq: number; channel: string };

export function toUtterance(r: UtteranceRow): StoredUtterance {
  return {
    seq: r.seq,
    text: r.text,
    startMs: r.start_ms,
    endMs: r.end_ms,
    channel: r.channel,
    words: JSON.parse(r.words) as TranscriptWord[],
  };
}

export function toWord(r: WordRow): StoredWord {
  return {
    seq: r.seq,
    text: r.text,
    startMs: r.start_ms,
    ...(r.end_ms === null ? {} : { endMs: r.end_ms }),
    channel: r.channel,
  };
}

/** States of a call that is over. */
export const CLOSED_STATES: readonly string[] = ['ended', 'rejected', 'cancelled'];

export class CallStore {
  readonly #db: Db;
  readonly #upsertCall;
  readonly #insertEvent;
  readonly #insertWord;
  readonly #insertUtterance;
  readonly #getCall;
  readonly #utterances;
  readonly #words;
  readonly #events;

  constructor(db: Db) {
    this.#db = db;
    this.#upsertCall = db.prepare(`
      INSERT INTO calls (id, sip_call_id, from_uri, to_uri, account, transport, codec, source, ingress,
                         recording, instance, state, created_at, answered_at, ended_at, end_reason, reject_status, duration_ms)
      VALUES (@id, @sip_call_id, @from_uri, @to_uri, @account, @transport, @codec, @source, @ingress, @recording, @instance,
              @state, @created_at, @answered_at, @ended_at, @end_reason, @reject_status, @duration_ms)
      ON CONFLICT (id) DO UPDATE SET
        sip_call_id = excluded.sip_call_id, from_uri = excluded.from_uri, to_uri = excluded.to_uri,
        account = excluded.account, transport = excluded.transport, codec = excluded.codec,
        source = excluded.source, ingress = excluded.ingress, recording = excluded.recording,
        instance = excluded.instance, state = excluded.state, answered_at = excluded.answered_at,
        ended_at = excluded.ended_at, end_reason = excluded.end_reason,
        reject_status = excluded.reject_status, duration_ms = excluded.duration_ms`);
    this.#insertEvent = db.prepare(
      'INSERT OR IGNORE INTO events (call_id, seq, type, at, body) VALUES (?, ?, ?, ?, ?)',
    );
    this.#insertWord = db.prepare(
      'INSERT OR IGNORE INTO words (call_id, seq, text, start_ms, end_ms, channel) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.#insertUtterance = db.prepare(
      `INSERT OR IGNORE INTO utterances (call_id, seq, text, start_ms, end_ms, channel, words)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#getCall = db.prepare<[string], CallRow>('SELECT * FROM calls WHERE id = ?');
    this.#utterances = db.prepare<[string], UtteranceRow>(
      'SELECT seq, text, start_ms, end_ms, channel, words FROM utterances WHERE call_id = ? ORDER BY seq',
    );
    this.#words = db.prepare<[string], WordRow>(
      'SELECT seq, text, start_ms, end_ms, channel FROM words WHERE call_id = ? ORDER BY seq',
    );
    this.#events = db.prepare<[string], { body: string }>(
      'SELECT body FROM events WHERE call_id = ? ORDER BY seq',
    );
  }

  /** Inserts or updates a call's row. */
  saveCall(record: CallRecord): void {
    this.#upsertCall.run(toRow(record));
  }

  /** Several calls' rows in one transaction (what `CallRowWriter` hands over per batch). */
  saveCalls(records: readonly CallRecord[]): void {
    this.#db.transaction(() => {
      for (const r of records) {
        this.#upsertCall.run(toRow(r));
      }
    })();
  }

  getCall(id: string): CallRecord | undefined {
    const row = this.#getCall.get(id);
    return row ? toRecord(row) : undefined;
  }

  /** Calls, newest first. */
  listCalls(opts: ListCallsOptions = {}): CallRecord[] {
    const limit = Math.min(Math.max(1, opts.limit ?? 50), 500);
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (opts.before !== undefined) {
      where.push('created_at < ?');
      params.push(opts.before);
    }
    if (opts.recording !== undefined) {
      // SQLite's LIKE ignores ASCII case.
      where.push("recording LIKE ? ESCAPE '\\'");
      params.push(containsPattern(opts.recording));
    }
    const rows = this.#db
      .prepare<(string | number)[], CallRow>(
        `SELECT * FROM calls ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ` +
          'ORDER BY created_at DESC, rowid DESC LIMIT ?',
      )
      .all(...params, limit);
    return rows.map(toRecord);
  }

  /**
   * Stores one event (idempotent on `(callId, seq)`), and its word or utterance in their tables.
   */
  saveEvent(event: CallEvent): void {
    this.saveEvents([event]);
  }

  /**
   * Stores a batch of events in one transaction (see {@link saveEvent}); `json[i]`, when given, is
   * `JSON.stringify(events[i])`.
   */
  saveEvents(events: readonly CallEvent[], json?: readonly string[]): void {
    this.#db.transaction(() => {
      for (let i = 0; i < events.length; i++) {
        const event = events[i] as CallEvent;
        this.#insertOne(event, json?.[i] ?? JSON.stringify(event));
      }
    })();
  }

  #insertOne(event: CallEvent, json: string): void {
    this.#insertEvent.run(event.callId, event.seq, event.type, event.at, json);
    if (event.type === 'transcript.word') {
      this.#insertWord.run(
        event.callId,
        event.seq,
        event.text,
        event.startMs,
        event.endMs ?? null,
        event.channel,
      );
    } else if (event.type === 'transcript.utterance') {
      this.#insertUtterance.run(
        event.callId,
        event.seq,
        event.text,
        event.startMs,
        event.endMs,
        event.channel,
        JSON.stringify(event.words),
      );
    }
  }

  /** A call's utterances in order. */
  utterances(callId: string): StoredUtterance[] {
    return this.#utterances.all(callId).map(toUtterance);
  }

  /** A call's words (from `transcript.word` events) in order. */
  words(callId: string): StoredWord[] {
    return this.#words.all(callId).map(toWord);
  }

  /** A call's stored events in seq order. */
  events(callId: string): CallEvent[] {
    return this.#events.all(callId).map((r) => JSON.parse(r.body) as CallEvent);
  }

  /**
   * Calls not over in the database (at start: the ones a previous process left active), oldest
   * first; only those of `instance` when given.
   */
  unfinishedCalls(instance?: string): CallRecord[] {
    return this.#db
      .prepare<string[], CallRow>(
        `SELECT * FROM calls WHERE state NOT IN ('ended', 'rejected', 'cancelled')
         ${instance === undefined ? '' : 'AND instance = ?'} ORDER BY created_at, rowid`,
      )
      .all(...(instance === undefined ? [] : [instance]))
      .map(toRecord);
  }

  /** The last stored event of a call (highest seq), if any. */
  lastEvent(callId: string): { seq: number; type: string; at: string } | undefined {
    return this.#db
      .prepare<[string], { seq: number; type: string; at: string }>(
        'SELECT seq, type, at FROM events WHERE call_id = ? ORDER BY seq DESC LIMIT 1',
      )
      .get(callId);
  }

  /**
   * Deletes calls over before `beforeIso` (by end time, else creation time) with their events,
   * words, utterances and given-up webhook rows; a call with a webhook delivery still pending is
   * kept until it is delivered. Only the calls of `instance` when given (their files are in its
   * storage.dir). One transaction.
   * @returns the ids deleted (for their files).
   */
  deleteCallsOver(beforeIso: string, instance?: string): string[] {
    return this.#db.transaction(() => {
      const ids = this.#db
        .prepare<string[], { id: string }>(
          `SELECT c.id FROM calls c
           WHERE c.state IN ('ended', 'rejected', 'cancelled') AND COALESCE(c.ended_at, c.created_at) < ?
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.call_id = c.id AND o.status = 'pending')
             ${instance === undefined ? '' : 'AND c.instance = ?'}`,
        )
        .all(beforeIso, ...(instance === undefined ? [] : [instance]))
        .map((r) => r.id);
      this.#deleteRows(ids);
      return ids;
    })();
  }

  /**
   * Deletes one call that is over, with everything stored for it, its undelivered webhook events
   * included (deleting is the user's explicit wish). One transaction.
   * @returns false when there is no such call or it is not over.
   */
  deleteCall(id: string): boolean {
    const r = this.getCall(id);
    if (!r || !CLOSED_STATES.includes(r.state)) {
      return false;
    }
    this.#db.transaction(() => this.#deleteRows([id]))();
    return true;
  }

  #deleteRows(ids: readonly string[]): void {
    for (const table of ['events', 'words', 'utterances', 'outbox', 'calls']) {
      const del = this.#db.prepare(`DELETE FROM ${table} WHERE ${table === 'calls' ? 'id' : 'call_id'} = ?`);
      for (const id of ids) {
        del.run(id);
      }
    }
  }
}
