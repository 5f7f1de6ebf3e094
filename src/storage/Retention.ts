/**
 * Retention (`storage.retentionDays`): calls over for longer than that are deleted from the
 * database with their JSONL file and recording, at start and then every hour. 0 keeps everything.
 * A call whose webhook deliveries are still pending is kept until they are delivered. Refused
 * attempts (RefusedStore) not seen for that long go too.
 */
import { rmSync } from 'node:fs';
import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../logger.js';
import type { AsyncCallStore } from './AsyncCallStore.js';
import type { RefusedLog } from './RefusedStore.js';

const DAY_MS = 86_400_000;

interface RetentionOptions {
  readonly days: number;
  readonly store: Pick<AsyncCallStore, 'deleteCallsOver'>;
  /** The aggregated refused attempts: rows last seen before the limit are deleted. */
  readonly refused?: RefusedLog;
  /**
   * With a store shared by several instances: only this instance's calls are deleted here, since
   * their files are in its storage.dir (each instance sweeps its own).
   */
  readonly instance?: string;
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

  #stopped = false;
  /** The sweep in progress or last done. */
  #running: Promise<void> = Promise.resolve();

  /** Sweeps now and then every `intervalMs` (counted from the end of a sweep); nothing when `days` is 0. */
  start(): void {
    if (this.#o.days <= 0) {
      return;
    }
    this.#running = this.#sweepAndSchedule();
  }

  /** Resolves once the sweep in progress (started by `start` or the timer) is done. */
  settled(): Promise<void> {
    return this.#running;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) {
      this.#o.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Deletes what is past retention now; resolves with the call ids deleted. Never rejects. */
  async sweep(): Promise<string[]> {
    const { store, clock, logger, days, filesOf, refused, instance } = this.#o;
    const before = new Date(clock.now() - days * DAY_MS).toISOString();
    try {
      const n = (await refused?.deleteBefore(before)) ?? 0;
      if (n > 0) {
        logger.info({ rows: n, before }, 'retention: deleted refused attempts past storage.retentionDays');
      }
    } catch (err) {
      logger.error({ err }, 'retention: deleting old refused attempts failed');
    }
    let ids: string[];
    try {
      ids = await store.deleteCallsOver(before, instance);
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

  async #sweepAndSchedule(): Promise<void> {
    await this.sweep();
    if (!this.#stopped) {
      this.#timer = this.#o.clock.setTimeout(() => {
        this.#running = this.#sweepAndSchedule();
      }, this.#o.intervalMs ?? 3_600_000);
    }
  }
}
