/**
 * Whether a stream's server keeps up with real time: a backlog (the server's `Step.buffered_pcm`,
 * or our socket's unsent bytes) above `thresholdMs` is reported to the pool (which ranks that
 * server last for new calls) and logged at most every 5 s. The backlog we create on purpose (the
 * flush burst, a failover replay) is not judged: while flushing, and after `mute()` until the
 * backlog has drained once or the mute ends.
 */
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { SttServerConfig } from './SttConnection.js';

const LOG_EVERY_MS = 5000;

export class LagWatch {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #callId: string;
  readonly #thresholdMs: number;
  readonly #report: (server: SttServerConfig, lagMs: number) => void;
  #reportedAt = -Infinity;
  #mutedUntil = -Infinity;

  constructor(
    deps: { clock: Clock; logger: Logger; callId: string },
    thresholdMs: number,
    report: (server: SttServerConfig, lagMs: number) => void,
  ) {
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#callId = deps.callId;
    this.#thresholdMs = thresholdMs;
    this.#report = report;
  }

  /** Not judged until the clock reaches `untilMs` or the backlog drains below the threshold. */
  mute(untilMs: number): void {
    this.#mutedUntil = untilMs;
  }

  /** One backlog reading of `lagMs` on `server` (`what`: its source, for the log). */
  check(server: SttServerConfig, lagMs: number, what: string, flushing: boolean): void {
    const now = this.#clock.now();
    if (lagMs <= this.#thresholdMs) {
      this.#mutedUntil = -Infinity;

      return;
    }
    // NOTE: the flush and a failover replay send audio ahead of real time on purpose.
    if (flushing || now < this.#mutedUntil) {
      return;
    }
    if (now - this.#reportedAt >= LOG_EVERY_MS) {
      this.#reportedAt = now;
      this.#logger.warn(
        { callId: this.#callId, server: server.url, lagMs: Math.round(lagMs), what },
        'stt: server behind real time',
      );
    }
    this.#report(server, lagMs);
  }
}
