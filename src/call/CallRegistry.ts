/**
 * The calls of the process: active ones in memory, every one (active included) in the database.
 * The call orchestration drives it; it keeps the record, the database row, the transcript bus and
 * the call metrics consistent with one another. It writes rows without waiting (`store.saveCall`:
 * the SQLite store at once, PostgreSQL's `CallRowWriter` in the background) and reads the database
 * only at start, asynchronously (`stored`: calls left unfinished, pending transcriptions):
 *
 * - `create(meta)` on INVITE: state `offered`, row written, `sipscribe_calls_active` +1.
 * - `transition(id, 'answered')` opens the call's event stream and publishes `call.started`.
 * - `transition(id, 'ending', { reason })` records why the call ends (the STT flush runs now).
 * - `transition(id, 'ended')` publishes `call.ended` with the whole transcript and closes the stream.
 * - `rejected` / `cancelled` end a call that was never answered (no events: there was no stream).
 * - `refuse(attempt)` for an INVITE refused before it became a call: no call record, one count in
 *   the aggregated refused log (per source and reason, `RefusedStore`).
 * Every finished call and every refused attempt counts once in `sipscribe_calls_total{outcome}`.
 *
 * With `instance` (a store shared by several instances) every row names this instance, and the
 * recovery at start closes only this instance's unfinished calls: the others' are live elsewhere.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../errors.js';
import type { CallEvent, CallMeta, EndReason } from '../events.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { sqliteAsync, type AsyncCallStore } from '../storage/AsyncCallStore.js';
import { CallStore, type StoredUtterance } from '../storage/CallStore.js';
import type { RefusedLog } from '../storage/RefusedStore.js';
import { channelUtterance } from '../transcripts/channelEvents.js';
import type { TranscriptBus } from '../transcripts/TranscriptBus.js';
import { callOutcome, type CallRecord } from './CallRecord.js';
import { assertTransition, isTerminal, type CallState } from './callStates.js';

/** Finished calls of this process kept in memory for `get` and `list`. */
const RECENT_FINISHED = 1000;

interface CallRegistryOptions {
  /** Where call rows go: the SQLite `CallStore`, or a `CallRowWriter` (PostgreSQL). */
  store: { saveCall(record: CallRecord): void };
  /** Where the recovery at start reads (default: `store` when it is the SQLite `CallStore`). */
  stored?: AsyncCallStore;
  /** This instance's name in a store shared by several instances (`storage.instanceId`). */
  instance?: string;
  bus: TranscriptBus;
  clock: Clock;
  logger: Logger;
  metrics?: Metrics;
  /** Where refused attempts are aggregated (without it they are only counted). */
  refused?: RefusedLog;
  /** Makes call ids (default: random UUIDs). */
  newId?: () => string;
}

/** What a transition may carry besides the new state. */
interface TransitionDetails {
  /** Required when entering `ending`: why the call ends. */
  reason?: EndReason;
  /** For `rejected`: the SIP status sent (486, 503, …). */
  status?: number;
  /** Metadata learnt on the way (e.g. `codec` after the offer/answer). */
  meta?: Partial<CallMeta>;
  /** For `ended`: the call's duration when it is not "answer until now" (deferred transcription). */
  durationMs?: number;
  /** For `ended`: `call.ended` was already published by an earlier run; only the record is closed. */
  endedPublished?: boolean;
  /** For `answered`: no STT slot, the audio is recorded and transcribed later (`call.started.deferred`). */
  deferred?: boolean;
}

/** Thrown for an unknown or already finished call id. */
export class UnknownCallIdError extends AppError {
  constructor(id: string) {
    super('CALL_ERR_UNKNOWN', `no active call ${id}`);
  }
}

/** What {@link CallRegistry.prepareResume} reads of a call whose transcription is pending. */
interface PendingCall {
  record: CallRecord;
  events: CallEvent[];
  utterances: StoredUtterance[];
}

export class CallRegistry {
  readonly #active = new Map<string, CallRecord>();
  /** Every call of this process in creation order, latest state (finished ones bounded). */
  readonly #recent = new Map<string, CallRecord>();
  /** Pending calls read by `prepareResume`, taken by `resumePending`. */
  readonly #prepared = new Map<string, PendingCall>();
  readonly #opts: CallRegistryOptions;
  readonly #stored: AsyncCallStore | undefined;

  constructor(opts: CallRegistryOptions) {
    this.#opts = opts;
    this.#stored = opts.stored ?? (opts.store instanceof CallStore ? sqliteAsync(opts.store) : undefined);
  }

  /** Records a new call (state `offered`) and returns its record. */
  create(meta: CallMeta): CallRecord {
    const id = (this.#opts.newId ?? randomUUID)();
    const record: CallRecord = {
      id,
      meta,
      state: 'offered',
      createdAt: this.#iso(),
      answeredAt: null,
      endedAt: null,
      endReason: null,
      rejectStatus: null,
      durationMs: null,
      ...(this.#opts.instance === undefined ? {} : { instance: this.#opts.instance }),
    };
    this.#active.set(id, record);
    this.#save(record);
    this.#opts.metrics?.callsActive.inc();
    this.#opts.logger.debug({ callId: id, state: 'offered' }, 'call created');
    return record;
  }

  /**
   * An INVITE refused before it became a call (allow list, limits, authentication, the SIP stack's
   * own 4xx): no call record, one count in `sipscribe_calls_total{outcome="rejected"}` and in the
   * refused log's row for this source and reason. Logged at info the first time a source is
   * refused for a reason, then at debug (a scanner's thousands of INVITEs are one log line).
   */
  refuse(attempt: { source: string; to: string; status: number; reason: string }): void {
    const { refused, metrics, logger } = this.#opts;
    metrics?.callsTotal.inc({ outcome: 'rejected' });
    const log = (count: number): void => {
      const fields = {
        source: attempt.source,
        to: attempt.to,
        status: attempt.status,
        reason: attempt.reason,
        count,
      };
      if (count === 1) {
        logger.info(fields, 'call refused');
      } else {
        logger.debug(fields, 'call refused');
      }
    };
    // The refusal itself stands when its row cannot be written; only the refused log misses it.
    const notLogged = (err: unknown): void => {
      logger.warn(
        { err, source: attempt.source, reason: attempt.reason },
        'call refused (not written to the refused log)',
      );
    };
    let count: number | Promise<number>;
    try {
      count = refused?.record({ ...attempt, at: this.#iso() }) ?? 1;
    } catch (err) {
      notLogged(err);
      return;
    }
    if (typeof count === 'number') {
      log(count);
    } else {
      count.then(log, notLogged);
    }
  }

  /**
   * Moves a call to a new state, persisting it and publishing the matching events.
   * @throws StateTransitionError for a transition not in `CALL_TRANSITIONS`.
   * @throws UnknownCallIdError when the call is not active.
   * @throws AppError(`CALL_ERR_NO_REASON`) when entering `ending` without a reason.
   */
  transition(id: string, to: CallState, details: TransitionDetails = {}): CallRecord {
    const prev = this.#get(id);
    assertTransition(id, prev.state, to);
    if (to === 'ending' && !details.reason) {
      throw new AppError('CALL_ERR_NO_REASON', `call ${id}: entering ending needs a reason`);
    }
    const now = this.#opts.clock.now();
    let next: CallRecord = {
      ...prev,
      // Object.assign: a spread merge of two objects gives each result a hidden class of its own.
      meta: details.meta ? Object.assign({}, prev.meta, details.meta) : prev.meta,
      state: to,
    };
    const { bus } = this.#opts;
    if (details.meta && bus.isOpen(id)) {
      bus.updateMeta(id, details.meta);
    }
    switch (to) {
      case 'answered': {
        next = { ...next, answeredAt: new Date(now).toISOString() };
        bus.openCall(id, next.meta);
        bus.markAnswered(id, now);
        bus.publish(
          id,
          details.deferred ? { type: 'call.started', deferred: true } : { type: 'call.started' },
        );
        break;
      }
      case 'ending': {
        next = { ...next, endReason: details.reason ?? 'error' };
        break;
      }
      case 'ended': {
        const durationMs =
          details.durationMs ??
          (next.answeredAt === null ? 0 : Math.max(0, now - Date.parse(next.answeredAt)));
        next = { ...next, endedAt: new Date(now).toISOString(), durationMs };
        if (details.endedPublished) {
          bus.closeCall(id);
        } else {
          bus.endCall(id, next.endReason ?? 'error', details.durationMs);
        }
        break;
      }
      case 'rejected':
      case 'cancelled': {
        next = {
          ...next,
          endedAt: new Date(now).toISOString(),
          durationMs: 0,
          rejectStatus: to === 'rejected' ? (details.status ?? null) : null,
        };
        break;
      }
      case 'offered':
      case 'ringing':
      case 'streaming':
        break;
    }
    this.#save(next);
    if (isTerminal(to)) {
      this.#active.delete(id);
      this.#opts.metrics?.callsActive.dec();
      this.#opts.metrics?.callsTotal.inc({ outcome: callOutcome(next) });
    } else {
      this.#active.set(id, next);
    }
    this.#opts.logger.info(
      {
        callId: id,
        from: prev.state,
        to,
        ...(next.endReason && isTerminal(to) ? { reason: next.endReason } : {}),
      },
      'call state',
    );
    return next;
  }

  /** Adds metadata learnt after creation (e.g. the codec) to an active call. */
  updateMeta(id: string, meta: Partial<CallMeta>): CallRecord {
    const prev = this.#get(id);
    const next = { ...prev, meta: Object.assign({}, prev.meta, meta) };
    this.#active.set(id, next);
    this.#save(next);
    if (this.#opts.bus.isOpen(id)) {
      this.#opts.bus.updateMeta(id, meta);
    }
    return next;
  }

  /**
   * The call's child logger: every line carries `callId`, the SIP Call-ID, `from` and `to`.
   * @throws UnknownCallIdError when the call is not active.
   */
  logger(id: string): Logger {
    const r = this.#get(id);
    return this.#opts.logger.child({
      callId: id,
      sipCallId: r.meta.sipCallId,
      from: r.meta.from,
      to: r.meta.to,
    });
  }

  /** A call of this process: an active one, or one of the last 1000 finished (the API reads the database). */
  get(id: string): CallRecord | undefined {
    return this.#active.get(id) ?? this.#recent.get(id);
  }

  /** Active calls, oldest first. */
  active(): CallRecord[] {
    return [...this.#active.values()];
  }

  /** The calls of this process (active, and the last 1000 finished), newest first. */
  list(): CallRecord[] {
    return [...this.#recent.values()].reverse();
  }

  /**
   * Ends every call still active, as a last resort at shutdown (the orchestration should already
   * have hung them up through the STT flush): unanswered calls become `rejected` (503), answered
   * ones go through `ending` to `ended` with `reason`, so their `call.ended` is still published.
   * @returns the ids of the calls ended here.
   */
  endAll(reason: EndReason = 'shutdown'): string[] {
    const ended: string[] = [];
    for (const r of this.active()) {
      switch (r.state) {
        case 'offered':
        case 'ringing':
          this.transition(r.id, 'rejected', { status: 503 });
          break;
        case 'answered':
        case 'streaming':
          this.transition(r.id, 'ending', { reason });
          this.transition(r.id, 'ended');
          break;
        case 'ending':
          this.transition(r.id, 'ended');
          break;
        case 'ended':
        case 'rejected':
        case 'cancelled':
          continue;
      }
      ended.push(r.id);
    }
    if (ended.length > 0) {
      this.#opts.logger.warn({ calls: ended.length, reason }, 'ended calls still active at shutdown');
    }
    return ended;
  }

  /**
   * Lets go of a call in `ending` without ending it: its transcript is pending on disk (a deferred
   * transcription cut by the shutdown). The row stays `ending`, no event is published; the next
   * start takes it back with {@link resumePending}.
   */
  park(id: string): CallRecord {
    const r = this.#get(id);
    assertTransition(id, r.state, 'ended');
    this.#active.delete(id);
    this.#opts.bus.closeCall(id);
    this.#opts.metrics?.callsActive.dec();
    this.#opts.logger.info({ callId: id, state: r.state }, 'call parked: transcript pending');
    return r;
  }

  /**
   * Reads what {@link resumePending} needs of the calls whose transcription a previous run left
   * pending (their audio is in this instance's `pending/`): done once at start, before the calls
   * are taken back, since the store may answer over the network.
   */
  async prepareResume(ids: Iterable<string>): Promise<void> {
    const stored = this.#storedOrThrow();
    for (const id of ids) {
      const record = await stored.getCall(id);
      if (record) {
        const [events, utterances] = await Promise.all([stored.events(id), stored.utterances(id)]);
        this.#prepared.set(id, { record, events, utterances });
      }
    }
  }

  /**
   * Takes back a call whose transcript a previous run left pending (see {@link park}, or a crash
   * while it was recorded; `recoverStale` leaves such calls alone), as read by
   * {@link prepareResume}: active again in `ending`, its event stream reopened after its last
   * stored event, with the utterances stored so far.
   * @returns the record, whether `call.ended` was already published for it and the call time the
   *   stored utterances reach (ms), in all and per channel (`caller`, `callee`: a channel without
   *   one is absent); undefined for a call that is unknown (or not prepared), never answered or
   *   active.
   */
  resumePending(id: string):
    | {
        record: CallRecord;
        endedPublished: boolean;
        transcribedUntilMs: number;
        channelsTranscribedUntilMs: Readonly<Record<string, number>>;
      }
    | undefined {
    const prepared = this.#active.has(id) ? undefined : this.#prepared.get(id);
    this.#prepared.delete(id);
    if (!prepared?.record.answeredAt) {
      return undefined;
    }
    const { events, utterances } = prepared;
    const record: CallRecord = {
      ...prepared.record,
      state: 'ending',
      endedAt: null,
      endReason: prepared.record.endReason ?? 'error',
    };
    this.#active.set(id, record);
    this.#save(record);
    this.#opts.metrics?.callsActive.inc();
    this.#reopen(
      record,
      events.reduce((m, e) => Math.max(m, e.seq), 0),
      utterances,
    );
    this.#opts.logger.info({ callId: id }, 'call resumed: transcribing its pending audio');
    const channels: Record<string, number> = {};
    for (const u of utterances) {
      channels[u.channel] = Math.max(channels[u.channel] ?? 0, u.endMs);
    }
    return {
      record,
      endedPublished: events.some((e) => e.type === 'call.ended'),
      transcribedUntilMs: utterances.reduce((m, u) => Math.max(m, u.endMs), 0),
      channelsTranscribedUntilMs: channels,
    };
  }

  /**
   * Closes the calls a previous process left active (crash, kill -9, power loss), this instance's
   * only when the store is shared (`instance`). A call that was
   * never answered becomes `cancelled`. An answered one is ended as the sinks expect: the words
   * stored after its last utterance become a final utterance, then `call.ended` (reason `error`
   * unless the call was already ending) carries the whole stored transcript, numbered after the
   * last stored event, so the database, the JSONL file and the webhooks all see the call end.
   * Its end time is that of its last stored event (the best known moment).
   * @param skip calls another part of the endpoint finishes itself (e.g. a pending transcription).
   * @returns how many calls were closed.
   */
  async recoverStale(skip: (id: string) => boolean = () => false): Promise<number> {
    const { logger, metrics, instance } = this.#opts;
    const stored = this.#storedOrThrow();
    let closed = 0;
    for (const r of await stored.unfinishedCalls(instance)) {
      if (this.#active.has(r.id) || skip(r.id)) {
        continue;
      }
      closed++;
      const last = await stored.lastEvent(r.id);
      let next: CallRecord;
      if (r.answeredAt === null) {
        next = { ...r, state: 'cancelled', endedAt: last?.at ?? r.createdAt, durationMs: 0 };
      } else {
        const answeredAt = Date.parse(r.answeredAt);
        const endedAtMs = last ? Date.parse(last.at) : answeredAt;
        const durationMs = Math.max(0, endedAtMs - answeredAt);
        const reason = r.endReason ?? 'error';
        if (last?.type !== 'call.ended') {
          await this.#publishLateEnd(stored, r, last?.seq ?? 0, reason, durationMs);
        }
        next = {
          ...r,
          state: 'ended',
          endReason: reason,
          endedAt: new Date(endedAtMs).toISOString(),
          durationMs,
        };
      }
      this.#opts.store.saveCall(next);
      metrics?.callsTotal.inc({ outcome: callOutcome(next) });
      logger.warn(
        { callId: r.id, sipCallId: r.meta.sipCallId, was: r.state, now: next.state },
        'closed a call left active by a previous run',
      );
    }
    return closed;
  }

  async #publishLateEnd(
    stored: AsyncCallStore,
    r: CallRecord,
    lastSeq: number,
    reason: EndReason,
    durationMs: number,
  ): Promise<void> {
    const { bus } = this.#opts;
    const [utterances, words] = await Promise.all([stored.utterances(r.id), stored.words(r.id)]);
    this.#reopen(r, lastSeq, utterances);
    const lastUtteranceSeq = utterances.at(-1)?.seq ?? 0;
    const trailing = words.filter((w) => w.seq > lastUtteranceSeq);
    // One closing utterance per channel (a call with both sides transcribed has two).
    for (const channel of new Set(trailing.map((w) => w.channel))) {
      const channelWords = trailing.filter((w) => w.channel === channel);
      const first = channelWords[0];
      const lastWord = channelWords.at(-1);
      if (first && lastWord) {
        bus.publish(
          r.id,
          channelUtterance(channel, {
            text: channelWords.map((w) => w.text).join(' '),
            startMs: first.startMs,
            endMs: lastWord.endMs ?? lastWord.startMs,
            words: channelWords,
          }),
        );
      }
    }
    bus.endCall(r.id, reason, durationMs);
  }

  /**
   * Reopens the event stream of an answered call a previous run left open: numbering goes on
   * after `lastSeq`, `call.ended` will start with the stored utterances, offsets count from the
   * answer.
   */
  #reopen(r: CallRecord, lastSeq: number, stored: readonly StoredUtterance[]): void {
    const { bus } = this.#opts;
    bus.openCall(r.id, r.meta, { lastSeq, utterances: stored.map(({ seq: _seq, ...u }) => u) });
    if (r.answeredAt !== null) {
      bus.markAnswered(r.id, Date.parse(r.answeredAt));
    }
  }

  /** Writes a call's row and keeps its latest state for `get` and `list`. */
  #save(record: CallRecord): void {
    this.#opts.store.saveCall(record);
    this.#recent.set(record.id, record);
    if (this.#recent.size > RECENT_FINISHED + this.#active.size) {
      for (const id of this.#recent.keys()) {
        if (!this.#active.has(id)) {
          this.#recent.delete(id);
          break;
        }
      }
    }
  }

  #storedOrThrow(): AsyncCallStore {
    if (!this.#stored) {
      throw new AppError('CALL_ERR_NO_STORE', 'the call registry has no store to read (options.stored)');
    }
    return this.#stored;
  }

  #get(id: string): CallRecord {
    const r = this.#active.get(id);
    if (!r) {
      throw new UnknownCallIdError(id);
    }
    return r;
  }

  #iso(): string {
    return new Date(this.#opts.clock.now()).toISOString();
  }
}
