/**
 * Takes storage off the hot path: events are queued in memory (nothing but an array push per word)
 * and written in batches, one database transaction and one append per call's JSONL file per batch,
 * across every call. A batch is written `intervalMs` after its first event, at once when it holds
 * `maxRows` events (a batch never holds more), and at once after a `call.ended` (a call's end is on disk promptly, after its
 * words since the queue keeps publish order). `flush()` writes whatever is queued (shutdown).
 *
 * One batch is written at a time: events that arrive meanwhile wait for the next one, so the order
 * of events in the database and in each file is the order they were added. A process that dies
 * loses at most the events of the batch being collected (one interval).
 *
 * A write that fails is logged (the first, then every 100th) and counted per event; a failed
 * database batch is retried event by event so one bad row does not take its neighbours with it.
 * The webhook outbox rows of the batch's events are written in the same transaction (see
 * EventStore), and the dispatcher woken once they are stored.
 * The writer never throws to its caller.
 */
import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { CallEvent } from '../events.js';
import type { Logger } from '../../lib/logger.js';
import type { JsonlFiles } from './JsonlFiles.js';

/**
 * Where batches of events go: one transaction per call of `saveEvents`; `json[i]` is
 * `JSON.stringify(events[i])`, serialized once for the database and the file. `webhooks`, when
 * given, are the batch's webhook outbox rows, queued in the same transaction: a webhook is sent
 * only an event that is stored (a process killed between two separate writes would otherwise
 * deliver events the database never got).
 */
export interface EventStore {
  saveEvents(
    events: readonly CallEvent[],
    json: readonly string[],
    webhooks?: BatchWebhooks,
  ): void | Promise<void>;
}

/** A batch's webhook outbox rows: `urls[i]` (often none) get `events[i]`, due at `now`. */
export interface BatchWebhooks {
  readonly urls: readonly (readonly string[])[];
  readonly now: number;
}

/** The webhooks of the stored events: which URLs get an event, and who delivers once queued. */
export interface WebhookRouting {
  route(event: CallEvent): readonly string[];
  /** New outbox rows are stored (the dispatcher's `notify`). */
  queued(): void;
}

interface StorageWriterOptions {
  store: EventStore;
  files: JsonlFiles;
  clock: Clock;
  logger: Logger;
  /** How long a batch collects events before it is written (ms; 0: on the next timer tick). */
  intervalMs: number;
  /** A batch this large is written at once. */
  maxRows: number;
  /** Called once per event that could not be stored (database or file). */
  onFailure?: (events: number) => void;
  /** Webhooks: their outbox rows go into each batch's transaction. */
  webhooks?: WebhookRouting;
}

export class StorageWriter {
  readonly #opts: StorageWriterOptions;
  #queue: CallEvent[] = [];
  #timer: TimerHandle | null = null;
  /** The batch being written, if any. */
  #writing: Promise<void> | null = null;
  #failures = 0;
  /** Batches written and events in them (for the bench and tests). */
  readonly stats = { batches: 0, events: 0, failed: 0 };
  /** Events added so far, and of those (in order) the ones whose write has ended. */
  #added = 0;
  #ended = 0;
  /** `settled()` callers: each waits for the events added before it. */
  #waiters: { upTo: number; resolve: () => void }[] = [];

  constructor(opts: StorageWriterOptions) {
    this.#opts = opts;
  }

  /** Queues an event. Synchronous and cheap: no I/O here. */
  add(event: CallEvent): void {
    this.#added++;
    this.#queue.push(event);
    if (event.type === 'call.ended' || this.#queue.length >= this.#opts.maxRows) {
      this.#schedule(0);
    } else if (this.#timer === null) {
      this.#schedule(this.#opts.intervalMs);
    }
  }

  /** Events queued and not yet being written. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Resolves once every event added before the call has been written (or has failed and been
   * counted), its batch started at once: a reader of the database (the API) then sees everything
   * published before its request. Later events do not hold it back.
   */
  settled(): Promise<void> {
    if (this.#ended >= this.#added) {
      return Promise.resolve();
    }
    const waited = new Promise<void>((resolve) => this.#waiters.push({ upTo: this.#added, resolve }));
    if (!this.#writing) {
      void this.#startBatch();
    }
    return waited;
  }

  /** Writes everything queued so far; resolves once it is stored (or has failed and been counted). */
  async flush(): Promise<void> {
    this.#cancelTimer();
    while (this.#writing || this.#queue.length > 0) {
      if (this.#writing) {
        await this.#writing;
      } else {
        await this.#startBatch();
      }
    }
  }

  /** Flushes, then closes the files still open. */
  async close(): Promise<void> {
    await this.flush();
    await this.#opts.files.closeAll();
  }

  #schedule(ms: number): void {
    if (this.#timer !== null) {
      if (ms > 0) {
        return;
      }
      this.#cancelTimer();
    }
    this.#timer = this.#opts.clock.setTimeout(() => {
      this.#timer = null;
      if (!this.#writing) {
        void this.#startBatch();
      }
      // Else the batch in flight starts the next one when it is done.
    }, ms);
  }

  #cancelTimer(): void {
    if (this.#timer !== null) {
      this.#opts.clock.clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  #startBatch(): Promise<void> {
    this.#cancelTimer();
    // At most maxRows per batch: a backlog (the database slower than the words for a while) is
    // written in several batches rather than one long block of the event loop.
    const batch =
      this.#queue.length <= this.#opts.maxRows ? this.#queue : this.#queue.splice(0, this.#opts.maxRows);
    if (batch === this.#queue) {
      this.#queue = [];
    }
    this.#writing = this.#write(batch).finally(() => {
      this.#writing = null;
      this.#ended += batch.length;
      if (this.#waiters.length > 0) {
        const due = this.#waiters.filter((w) => w.upTo <= this.#ended);
        this.#waiters = this.#waiters.filter((w) => w.upTo > this.#ended);
        due.forEach((w) => w.resolve());
        // A waiter for events still queued: their batch goes now rather than at its timer.
        if (this.#waiters.length > 0 && this.#queue.length > 0) {
          void this.#startBatch();
          return;
        }
      }
      // Events that arrived while this batch was written: their timer may already have fired.
      if (this.#queue.length > 0 && this.#timer === null) {
        this.#schedule(0);
      }
    });
    return this.#writing;
  }

  async #write(batch: readonly CallEvent[]): Promise<void> {
    if (batch.length === 0) {
      return;
    }
    this.stats.batches++;
    this.stats.events += batch.length;
    const json = batch.map((e) => JSON.stringify(e));
    const stored = this.#storeBatch(batch, json, this.#webhooksOf(batch));
    const filed = this.#opts.files.appendBatch(batch, json).catch((err: unknown) => {
      this.#failed(err, batch.length, 'cannot append events to the JSONL files');
    });
    await Promise.all([stored, filed]);
  }

  /** The batch's outbox rows (none when no webhook takes any of its events). */
  #webhooksOf(batch: readonly CallEvent[]): BatchWebhooks | undefined {
    const routing = this.#opts.webhooks;
    if (!routing) {
      return undefined;
    }
    const urls = batch.map((e) => routing.route(e));
    return urls.some((u) => u.length > 0) ? { urls, now: this.#opts.clock.now() } : undefined;
  }

  async #storeBatch(
    batch: readonly CallEvent[],
    json: readonly string[],
    webhooks: BatchWebhooks | undefined,
  ): Promise<void> {
    const { store } = this.#opts;
    try {
      await store.saveEvents(batch, json, webhooks);
      this.#queued(webhooks);
      return;
    } catch (err) {
      if (batch.length === 1) {
        this.#failed(err, 1, 'cannot store event');
        return;
      }
    }
    // One at a time: only the rows that fail are lost (with their webhook rows).
    for (let i = 0; i < batch.length; i++) {
      const urls = webhooks?.urls[i] ?? [];
      const own = webhooks && urls.length > 0 ? { urls: [urls], now: webhooks.now } : undefined;
      try {
        await store.saveEvents([batch[i] as CallEvent], [json[i] as string], own);
        this.#queued(own);
      } catch (err) {
        this.#failed(err, 1, 'cannot store event');
      }
    }
  }

  #queued(webhooks: BatchWebhooks | undefined): void {
    if (webhooks) {
      this.#opts.webhooks?.queued();
    }
  }

  #failed(err: unknown, events: number, msg: string): void {
    this.stats.failed += events;
    this.#opts.onFailure?.(events);
    const before = this.#failures;
    this.#failures += events;
    if (before === 0 || Math.floor(before / 100) !== Math.floor(this.#failures / 100)) {
      this.#opts.logger.error({ err, events, failedSoFar: this.#failures }, msg);
    }
  }
}
