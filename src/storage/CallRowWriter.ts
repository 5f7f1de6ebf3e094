/**
 * Call rows, written behind the call registry: `saveCall` only notes the record (synchronous and
 * cheap, as the registry needs); the rows noted are written at the end of the tick, one statement
 * (PostgreSQL, which answers over the network) or one transaction (SQLite) per batch, one batch
 * at a time. A call that changes several times before its batch goes is written once, in its
 * latest state, so rows are never written out of order. A batch that fails is logged (the first failure, then every 100th), counted, and its rows
 * are tried again after `retryMs` (unless a newer state of the call came meanwhile).
 * `flush()` resolves once every row noted so far is written or has failed (shutdown).
 */
import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { CallRecord } from '../call/CallRecord.js';

interface CallRowWriterOptions {
  store: { saveCalls(records: readonly CallRecord[]): Promise<void> };
  clock: Clock;
  logger: Logger;
  /** Before a failed batch is tried again (default 1000 ms). */
  retryMs?: number;
  /** Called once per row whose write failed. */
  onFailure?: (rows: number) => void;
}

export class CallRowWriter {
  readonly #o: CallRowWriterOptions;
  /** Rows waiting, by call id (the latest state of each call). */
  #pending = new Map<string, CallRecord>();
  #writing: Promise<void> | null = null;
  #retry: TimerHandle | null = null;
  #failures = 0;

  constructor(opts: CallRowWriterOptions) {
    this.#o = opts;
  }

  /** Notes a call's row to write. */
  saveCall(record: CallRecord): void {
    this.#pending.set(record.id, record);
    if (!this.#writing && this.#retry === null) {
      this.#writing = this.#drain();
    }
  }

  /** Rows noted and not yet written. */
  get queued(): number {
    return this.#pending.size;
  }

  /** Writes what is noted (failed rows are tried once more, without waiting for `retryMs`). */
  async flush(): Promise<void> {
    if (this.#retry !== null) {
      this.#o.clock.clearTimeout(this.#retry);
      this.#retry = null;
    }
    await this.#writing;
    if (this.#pending.size > 0) {
      this.#writing = this.#drain(false);
      await this.#writing;
    }
  }

  /** Writes batches until nothing is left; on a failure, tries again later (`retry`) or not. */
  async #drain(retry = true): Promise<void> {
    // Let the rest of this tick's changes join the batch.
    await Promise.resolve();
    while (this.#pending.size > 0) {
      const batch = [...this.#pending.values()];
      this.#pending = new Map();
      try {
        await this.#o.store.saveCalls(batch);
      } catch (err) {
        this.#failed(err, batch.length);
        for (const r of batch) {
          if (!this.#pending.has(r.id)) {
            this.#pending.set(r.id, r);
          }
        }
        if (retry) {
          this.#retry = this.#o.clock.setTimeout(() => {
            this.#retry = null;
            this.#writing = this.#drain();
          }, this.#o.retryMs ?? 1000);
        }
        break;
      }
    }
    this.#writing = null;
  }

  #failed(err: unknown, rows: number): void {
    this.#o.onFailure?.(rows);
    const before = this.#failures;
    this.#failures += rows;
    if (before === 0 || Math.floor(before / 100) !== Math.floor(this.#failures / 100)) {
      this.#o.logger.error({ err, rows, failedSoFar: this.#failures }, 'cannot store call rows');
    }
  }
}
