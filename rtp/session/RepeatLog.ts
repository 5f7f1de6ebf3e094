import type { Logger } from '../logger.js';

/** How often a repeated event that keeps happening is summarised in the log. */
export const REPEAT_SUMMARY_MS = 30_000;

interface Entry {
  msg: string;
  level: 'info' | 'warn' | 'error';
  /** Occurrences since the event was first logged. */
  total: number;
  /** Occurrences not yet in a log line. */
  pending: number;
  /** When the last line about it was written. */
  loggedAt: number;
}

/**
 * Log volume is attack surface: an event that can happen per packet (a datagram from a rejected
 * source, a malformed datagram, an unsupported payload type, a send error) is logged the first
 * time with its details, then only counted, with one summary line per key at most every
 * {@link REPEAT_SUMMARY_MS} while it keeps happening and one at the end of the session
 * ({@link flush}). Time comes in as arguments, so no timer is involved.
 */
export class RepeatLog {
  readonly #log: Logger;
  readonly #entries = new Map<string, Entry>();

  constructor(log: Logger) {
    this.#log = log;
  }

  /**
   * One occurrence of the event `key` (e.g. `rejected-source`, `malformed:RTP_ERR_VERSION`).
   * `details` are logged with the first occurrence only; `msg` names the event in every line.
   */
  note(
    key: string,
    nowMs: number,
    level: Entry['level'],
    msg: string,
    details: () => Record<string, unknown>,
  ): void {
    const e = this.#entries.get(key);
    if (!e) {
      this.#entries.set(key, { msg, level, total: 1, pending: 0, loggedAt: nowMs });
      this.#log[level]({ event: key, ...details() }, `${msg} (first of its kind; further ones are counted)`);
      return;
    }
    e.total++;
    e.pending++;
    if (nowMs - e.loggedAt >= REPEAT_SUMMARY_MS) {
      this.#summary(key, e, nowMs);
    }
  }

  /** Writes a summary for every event that happened again since its last line (session end). */
  flush(nowMs: number): void {
    for (const [key, e] of this.#entries) {
      if (e.pending > 0) {
        this.#summary(key, e, nowMs);
      }
    }
  }

  #summary(key: string, e: Entry, nowMs: number): void {
    this.#log[e.level](
      { event: key, count: e.pending, total: e.total, sinceMs: nowMs - e.loggedAt },
      `${e.msg} (repeated)`,
    );
    e.pending = 0;
    e.loggedAt = nowMs;
  }
}
