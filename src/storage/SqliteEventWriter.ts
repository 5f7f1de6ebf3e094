/**
 * The SQLite event store off the event loop: each batch of the storage sink goes to a worker
 * thread (`eventThread.ts`) that writes it in one transaction on its own connection, so neither
 * SQLite's work nor a WAL checkpoint's disk wait ever blocks calls, SIP or the API (in the load
 * bench they held the main thread for 17 ms a batch, up to 134 ms). The main thread keeps its own
 * connection for everything else (call rows, reads, the outbox's claims, retention); WAL lets it
 * read while the worker writes, and a write of either waits `busy_timeout` for the other's short
 * transaction.
 *
 * A batch resolves once committed (so a webhook's row is stored before the dispatcher is woken) or
 * rejects with the worker's error (the storage sink then retries it event by event). A worker that
 * dies fails the batches it held and is started again for the first batch a second later (batches
 * meanwhile fail at once: a database that cannot be opened costs one thread start per second, not
 * one per batch).
 */
import type { Worker } from 'node:worker_threads';
import type { Clock } from '../../lib/clock.js';
import { startModuleWorker } from '../../lib/moduleWorker.js';
import type { CallEvent } from '../events.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { BatchWebhooks, EventStore } from './StorageWriter.js';

/** A batch for the worker: the events as JSON, with their webhook rows. */
export interface BatchRequest {
  readonly id: number;
  readonly json: readonly string[];
  readonly webhooks?: BatchWebhooks;
}

/** The worker's answer to batch `id`: committed, or the error that rolled it back. */
export interface BatchReply {
  readonly id: number;
  readonly error?: string;
}

/** How long after a worker died the next one may start. */
const RESTART_MS = 1000;

interface Pending {
  resolve(): void;
  reject(err: Error): void;
  /** The batch's promise, settled quietly (what `close()` waits for). */
  readonly settled: Promise<void>;
}

export class SqliteEventWriter implements EventStore {
  readonly #dir: string;
  readonly #logger: Logger;
  #worker: Worker | null = null;
  /** Every batch not answered yet, by id. */
  readonly #pending = new Map<number, Pending>();
  #next = 1;
  #closed = false;
  /** Worker failures so far (logged: the first, then every 100th). */
  #failures = 0;
  readonly #clock: Clock;
  /** After a worker died: no new one before this (clock ms). */
  #restartAt = 0;

  constructor(dir: string, logger: Logger, clock: Clock) {
    this.#dir = dir;
    this.#logger = logger;
    this.#clock = clock;
  }

  saveEvents(
    _events: readonly CallEvent[],
    json: readonly string[],
    webhooks?: BatchWebhooks,
  ): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new AppError('STORAGE_ERR_CLOSED', 'the event writer is closed'));
    }
    if (!this.#worker && this.#clock.now() < this.#restartAt) {
      return Promise.reject(new AppError('STORAGE_ERR_WRITE', 'the storage thread is restarting'));
    }
    const id = this.#next++;
    const request: BatchRequest = webhooks ? { id, json, webhooks } : { id, json };
    const worker = this.#thread();
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const quiet = (): void => undefined;
    this.#pending.set(id, { resolve, reject, settled: done.then(quiet, quiet) });
    // The worker keeps the process alive while it holds a batch (a shutdown's last batch).
    worker.ref();
    worker.postMessage(request);
    return done;
  }

  /** Waits for the batches in flight, then ends the worker (its connection closed). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#pending.values()].map((p) => p.settled));
    const worker = this.#worker;
    if (!worker) {
      return;
    }
    const exited = new Promise<void>((r) => worker.once('exit', () => r()));
    worker.ref();
    worker.postMessage('close');
    await exited;
  }

  #thread(): Worker {
    if (this.#worker) {
      return this.#worker;
    }
    const worker = startModuleWorker(import.meta.url, 'eventThread', { workerData: { dir: this.#dir } });
    worker.on('message', (reply: BatchReply) => {
      const p = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) {
        worker.unref();
      }
      if (reply.error === undefined) {
        p?.resolve();
      } else {
        p?.reject(new AppError('STORAGE_ERR_WRITE', reply.error));
      }
    });
    worker.on('error', (err) => {
      if (this.#failures++ % 100 === 0) {
        this.#logger.error(
          { err, failures: this.#failures },
          'the storage thread failed (logged once per 100); it starts again with the next batch',
        );
      }
    });
    worker.on('exit', (code) => {
      if (this.#worker === worker) {
        this.#worker = null;
      }
      if (!this.#closed) {
        this.#restartAt = this.#clock.now() + RESTART_MS;
      }
      // What it had not answered is lost with it: those batches fail (the sink retries them by event).
      const lost = [...this.#pending.values()];
      this.#pending.clear();
      for (const p of lost) {
        p.reject(
          new AppError('STORAGE_ERR_WRITE', `the storage thread exited (code ${code}) before committing`),
        );
      }
    });
    this.#worker = worker;
    return worker;
  }
}
