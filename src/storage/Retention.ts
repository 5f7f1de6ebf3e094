/**
 * Retention (`storage.retentionDays`): calls over for longer than that are deleted from the
 * database with their JSONL file and recording, at start and then every hour. 0 keeps everything.
 * A call whose webhook deliveries are still pending is kept until they are delivered. Refused
 * attempts (RefusedStore) not seen for that long go too.
 */
import { rmSync } from 'node:fs';
import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../logger.js';
import type { CallStore } from './CallStore.js';
import type { RefusedStore } from './RefusedStore.js';

const DAY_MS = 86_400_000;

interface RetentionOptions {
  readonly days: number;
  readonly store: CallStore;
  /** The aggregated refused attempts: rows last seen before the limit are deleted. */
  readonly refused?: RefusedStore;
  /** The files of a call (JSONL, recording); missing ones are fine. */
  readonly filesOf: (callId: string) => readonly string[];
  readonly clock: Clock;
  readonly logger: Logger;
  /** Between sweeps (default one hour). */
  readonly intervalMs?: number;
}

export class Retention {
  readonly #o: RetentionOptions;
  #timer: TimerHandle | undefined;

  constructor(options: RetentionOptions) {
    this.#o = options;
  }

  /** Sweeps now and then every `intervalMs`; does nothing when `days` is 0. */
  start(): void {
    if (this.#o.days <= 0) {
      return;
    }
    this.sweep();
    this.#schedule();
  }

  stop(): void {
    if (this.#timer !== undefined) {
      this.#o.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Deletes what is past retention now; returns the call ids deleted. Never throws. */
  sweep(): string[] {
    const { store, clock, logger, days, filesOf, refused } = this.#o;
    const before = new Date(clock.now() - days * DAY_MS).toISOString();
    try {
      const n = refused?.deleteBefore(before) ?? 0;
      if (n > 0) {
        logger.info({ rows: n, before }, 'retention: deleted refused attempts past storage.retentionDays');
      }
    } catch (err) {
      logger.error({ err }, 'retention: deleting old refused attempts failed');
    }
    let ids: string[];
    try {
      ids = store.deleteCallsOver(before);
    } catch (err) {
      logger.error({ err }, 'retention: deleting old calls failed');
      return [];
    }
    for (const id of ids) {
      for (const file of filesOf(id)) {
        try {
          rmSync(file, { force: true });
        } catch (err) {
          logger.warn({ err, file }, 'retention: a file could not be deleted');
        }
      }
    }
    if (ids.length > 0) {
      logger.info({ calls: ids.length, before }, 'retention: deleted calls past storage.retentionDays');
    }
    return ids;
  }

  #schedule(): void {
    this.#timer = this.#o.clock.setTimeout(() => {
      this.sweep();
      this.#schedule();
    }, this.#o.intervalMs ?? 3_600_000);
  }
}
