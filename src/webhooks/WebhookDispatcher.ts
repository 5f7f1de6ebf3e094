/**
 * Delivers the outbox to the webhook receivers: POSTs each lane head, deletes it on a 2xx answer,
 * and otherwise retries it with exponential backoff (`minDelayMs · 2^(attempt-1)`, capped at
 * `maxDelayMs`, ±10 % jitter) until it is older than `maxAgeMs`, when it is marked `dead`.
 * Because the outbox is in the database, a restart loses nothing: the new process delivers
 * whatever is left, in order. A receiver down for ten minutes gets every event after it returns,
 * within one `maxDelayMs` (default 60 s).
 *
 * A graceful stop lets the requests in flight finish (for up to `stopGraceMs`) and records their
 * answers, so a delivery the receiver got is not made again by the next start or another
 * instance; only a request still unanswered then is cut, its row left as it was (sent again later:
 * a repeat is possible then, as after a kill, never a loss).
 */
import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { OutboxRow } from './Outbox.js';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signatureHeader } from './signature.js';

/**
 * The delivery's id: the event's call id (a random UUID) and `seq`, so it is the same on every
 * retry and unique across databases and reinstalls (unlike the outbox row id, which starts again
 * at 1 with a new database).
 */
function deliveryId(row: Pick<OutboxRow, 'call_id' | 'seq'>): string {
  return `${row.call_id}:${row.seq}`;
}

/** One configured receiver. */
export interface WebhookTarget {
  url: string;
  secret: string;
  /** Per request (default 10 000 ms). */
  timeoutMs?: number;
  retry?: RetryPolicy;
}

interface RetryPolicy {
  /** First retry delay (default 1000 ms). */
  minDelayMs?: number;
  /** Longest delay between attempts (default 60 000 ms). */
  maxDelayMs?: number;
  /** Give up on an event this old (default 24 h). */
  maxAgeMs?: number;
}

/** Sends one request; resolves to the HTTP status. Rejects on network errors and on abort. */
export type HttpPost = (
  url: string,
  body: string,
  headers: Record<string, string>,
  signal: AbortSignal,
) => Promise<number>;

const fetchPost: HttpPost = async (url, body, headers, signal) => {
  const res = await fetch(url, { method: 'POST', body, headers, signal, redirect: 'manual' });
  // Drain the body so the connection can be reused.
  await res.arrayBuffer().catch(() => undefined);
  return res.status;
};

interface WebhookDispatcherOptions {
  outbox: DeliveryQueue;
  targets: readonly WebhookTarget[];
  clock: Clock;
  logger: Logger;
  metrics?: Metrics;
  post?: HttpPost;
  /** Requests in flight per URL (each to a different call's lane); default 4. */
  concurrency?: number;
  /** Jitter source in [0, 1); default Math.random. */
  random?: () => number;
  /**
   * How long `stop()` lets requests in flight finish before it cuts them (config
   * `shutdown.webhookGraceMs`); default {@link DEFAULT_STOP_GRACE_MS}. 0 cuts them at once.
   */
  stopGraceMs?: number;
}

/** The default of `stopGraceMs` (and of config `shutdown.webhookGraceMs`). */
export const DEFAULT_STOP_GRACE_MS = 5000;

/**
 * The rows to deliver, as the dispatcher uses them: the SQLite `Outbox` (synchronous) or the
 * `PgOutbox` shared by several instances, whose `due` claims the rows it returns for a lease and
 * whose `release` lets the claims `stop()` did not see through (rows claimed but not sent, requests
 * cut) go at once.
 */
export interface DeliveryQueue {
  retireUnconfigured(urls: readonly string[]): number | Promise<number>;
  due(url: string, now: number, limit: number): OutboxRow[] | Promise<OutboxRow[]>;
  nextDueAt(url: string): number | null | Promise<number | null>;
  delivered(id: number): unknown;
  failed(id: number, error: string, nextAttemptAt: number): void | Promise<void>;
  dead(id: number, error: string): void | Promise<void>;
  release?(): Promise<void>;
}

/**
 * A URL as shown in logs and metric labels: without credentials, query or fragment, which may
 * carry secrets (`https://user:pw@host/hook?token=…` → `https://host/hook`).
 */
export function publicUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

/** The delay before retry number `attempt` (1 = first retry), without jitter. */
export function backoffDelay(attempt: number, policy: RetryPolicy = {}): number {
  const min = policy.minDelayMs ?? 1000;
  const max = policy.maxDelayMs ?? 60_000;
  return Math.min(max, min * 2 ** Math.max(0, attempt - 1));
}

interface Lane {
  target: WebhookTarget;
  running: Promise<void> | null;
  again: boolean;
  timer: TimerHandle | null;
  timerDue: number;
  inflight: Set<AbortController>;
}

export class WebhookDispatcher {
  readonly #opts: WebhookDispatcherOptions;
  readonly #lanes: Lane[];
  #stopped = false;
  /** Set when `stop()` cut the requests still in flight (after its grace). */
  #cut = false;
  /** The start's outbox reads, until they are done. */
  #starting: Promise<void> | null = null;

  constructor(opts: WebhookDispatcherOptions) {
    this.#opts = opts;
    this.#lanes = opts.targets.map((target) => ({
      target,
      running: null,
      again: false,
      timer: null,
      timerDue: Infinity,
      inflight: new Set(),
    }));
  }

  /** The URLs delivered to. */
  get urls(): string[] {
    return this.#lanes.map((l) => l.target.url);
  }

  /**
   * Starts (or resumes after a restart) delivery of whatever the outbox holds. Rows left for URLs
   * that are no longer configured are retired (status `dead`) with a warning.
   */
  start(): void {
    this.#starting = (async () => {
      const retired = await this.#opts.outbox.retireUnconfigured(this.urls);
      if (retired > 0) {
        this.#opts.logger.warn(
          { events: retired },
          'webhook events for URLs no longer configured were retired',
        );
      }
      this.notify();
    })().catch((err: unknown) => this.#opts.logger.error({ err }, 'webhook outbox unreadable at start'));
  }

  /** New rows are in the outbox: deliver what is due. */
  notify(): void {
    for (const lane of this.#lanes) {
      this.#kick(lane);
    }
  }

  /** Resolves when no delivery pass is running (timers for later retries may still be set). */
  async idle(): Promise<void> {
    await this.#starting;
    for (;;) {
      const running = this.#lanes.map((l) => l.running).filter((p): p is Promise<void> => p !== null);
      if (running.length === 0) {
        return;
      }
      await Promise.all(running);
    }
  }

  /**
   * Stops delivering: sends nothing new and cancels retry timers; lets the requests in flight end
   * and records their answers (a 2xx deletes the row, so it is not sent again), for up to
   * `stopGraceMs`, then aborts those still unanswered (their rows stay pending, unchanged, for the
   * next start or another instance); then lets go of the claims left (rows claimed but not sent).
   */
  async stop(): Promise<void> {
    const { clock, logger } = this.#opts;
    this.#stopped = true;
    let inflight = 0;
    for (const lane of this.#lanes) {
      if (lane.timer !== null) {
        clock.clearTimeout(lane.timer);
        lane.timer = null;
      }
      inflight += lane.inflight.size;
    }
    const graceMs = this.#opts.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
    const cut = (): void => {
      this.#cut = true;
      let n = 0;
      for (const lane of this.#lanes) {
        for (const ac of lane.inflight) {
          ac.abort();
          n++;
        }
      }
      if (n > 0) {
        logger.warn({ requests: n, graceMs }, 'webhook requests cut by the stop (they will be sent again)');
      }
    };
    let grace: TimerHandle | null = null;
    if (graceMs <= 0) {
      cut();
    } else {
      if (inflight > 0) {
        logger.info({ requests: inflight, graceMs }, 'stopping: waiting for the webhook requests in flight');
      }
      grace = clock.setTimeout(cut, graceMs);
    }
    try {
      await this.idle();
    } finally {
      if (grace !== null) {
        clock.clearTimeout(grace);
      }
    }
    await this.#opts.outbox.release?.();
  }

  #kick(lane: Lane): void {
    if (this.#stopped) {
      return;
    }
    if (lane.running) {
      lane.again = true;
      return;
    }
    // The next timer is set before `running` settles, so `idle()` sees it set.
    lane.running = this.#pass(lane)
      .catch((err: unknown) => this.#opts.logger.error({ err }, 'webhook outbox unreadable'))
      .then(() => this.#schedule(lane))
      .catch((err: unknown) => this.#opts.logger.error({ err }, 'webhook outbox unreadable'))
      .finally(() => {
        lane.running = null;
        if (lane.again) {
          // Rows came in while the timer was being set.
          this.#kick(lane);
        }
      });
  }

  async #pass(lane: Lane): Promise<void> {
    const { outbox, clock } = this.#opts;
    const limit = this.#opts.concurrency ?? 4;
    do {
      lane.again = false;
      const rows = await outbox.due(lane.target.url, clock.now(), limit);
      if (this.#stopped) {
        // Claimed while stop() began: not sent; `release()` lets them go.
        return;
      }
      if (rows.length > 0) {
        await Promise.all(rows.map((row) => this.#deliver(lane, row)));
        lane.again = true;
      }
    } while (lane.again && !this.#stopped);
  }

  async #schedule(lane: Lane): Promise<void> {
    if (this.#stopped) {
      return;
    }
    const next = await this.#opts.outbox.nextDueAt(lane.target.url);
    if (this.#stopped) {
      return;
    }
    if (next === null) {
      return;
    }
    const { clock } = this.#opts;
    if (lane.timer !== null) {
      if (lane.timerDue <= next) {
        return;
      }
      clock.clearTimeout(lane.timer);
    }
    lane.timerDue = next;
    lane.timer = clock.setTimeout(
      () => {
        lane.timer = null;
        lane.timerDue = Infinity;
        this.#kick(lane);
      },
      Math.max(0, next - clock.now()),
    );
  }

  async #deliver(lane: Lane, row: OutboxRow): Promise<void> {
    const { clock, outbox, logger, metrics } = this.#opts;
    const { target } = lane;
    const ac = new AbortController();
    lane.inflight.add(ac);
    const timeout = clock.setTimeout(() => ac.abort(), target.timeoutMs ?? 10_000);
    let error: string;
    try {
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'sipscribe-webhook',
        [EVENT_HEADER]: row.type,
        [DELIVERY_HEADER]: deliveryId(row),
        [SIGNATURE_HEADER]: signatureHeader(target.secret, Math.floor(clock.now() / 1000), row.body),
      };
      const status = await (this.#opts.post ?? fetchPost)(target.url, row.body, headers, ac.signal);
      if (status >= 200 && status < 300) {
        await outbox.delivered(row.id);
        metrics?.webhookDeliveries.inc({ url: publicUrl(target.url), result: 'ok' });
        if (row.attempts > 0) {
          logger.info(
            { url: publicUrl(target.url), callId: row.call_id, seq: row.seq, attempts: row.attempts + 1 },
            'webhook delivered after retries',
          );
        }
        return;
      }
      error = `HTTP ${status}`;
    } catch (err) {
      if (this.#cut) {
        // Aborted by stop() after its grace: not the receiver's fault; the row stays as it was.
        return;
      }
      error = err instanceof Error ? describeError(err) : String(err);
    } finally {
      clock.clearTimeout(timeout);
      lane.inflight.delete(ac);
    }
    const now = clock.now();
    const policy = target.retry ?? {};
    if (now - row.created_at >= (policy.maxAgeMs ?? 86_400_000)) {
      await outbox.dead(row.id, error);
      metrics?.webhookDeliveries.inc({ url: publicUrl(target.url), result: 'dead' });
      logger.error(
        { url: publicUrl(target.url), callId: row.call_id, seq: row.seq, attempts: row.attempts + 1, error },
        'webhook event given up (too old)',
      );
      return;
    }
    const base = backoffDelay(row.attempts + 1, policy);
    const jitter = 1 + 0.2 * ((this.#opts.random ?? Math.random)() - 0.5);
    await outbox.failed(row.id, error, now + Math.round(base * jitter));
    metrics?.webhookDeliveries.inc({ url: publicUrl(target.url), result: 'error' });
    const log = row.attempts < 3 ? logger.warn.bind(logger) : logger.debug.bind(logger);
    log(
      { url: publicUrl(target.url), callId: row.call_id, seq: row.seq, attempts: row.attempts + 1, error },
      'webhook delivery failed; will retry',
    );
  }
}

function describeError(err: Error): string {
  const cause = (err as { cause?: unknown }).cause;
  const code = cause && typeof cause === 'object' && 'code' in cause ? String(cause.code) : undefined;
  return code ? `${err.message} (${code})` : err.message;
}
