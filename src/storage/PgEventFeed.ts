/**
 * Events of the other instances sharing a PostgreSQL database, as they are stored: each batch of
 * events an instance writes also NOTIFYs them on one channel (PgCallStore), delivered at commit and
 * in commit order; `PgEventFeed` LISTENs on a connection of its own and hands every event from
 * another instance to `onEvent` (the live feed), in order. An event too large for a notification
 * (PostgreSQL's limit is 8000 bytes: a long call's `call.ended`) travels as a reference and is read
 * from `events`, committed by then. The connection is opened again after a loss (events stored in
 * the meantime are not replayed: the feed is live, the API has them).
 */
import pg from 'pg';
import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { CallEvent } from '../events.js';
import type { Logger } from '../logger.js';
import type { PgPool } from './postgres.js';

export const NOTIFY_CHANNEL = 'sipscribe_events';

/** Below PostgreSQL's 8000-byte payload limit, with room for the instance name. */
const MAX_INLINE_BYTES = 7800;

/** `<instance> <event JSON>`, or `<instance> @<seq> <callId>` for an event too large to carry. */
export function notifyPayload(instance: string, event: CallEvent, json: string): string {
  return Buffer.byteLength(json) <= MAX_INLINE_BYTES
    ? `${instance} ${json}`
    : `${instance} @${event.seq} ${event.callId}`;
}

interface PgEventFeedOptions {
  url: string;
  /** Reads events sent as references. */
  pool: PgPool;
  /** This instance's name: its own events are skipped (its bus has them). */
  instance: string;
  onEvent: (event: CallEvent) => void;
  clock: Clock;
  logger: Logger;
  /** Before the connection is opened again after a loss (default 1000 ms). */
  retryMs?: number;
}

export class PgEventFeed {
  readonly #o: PgEventFeedOptions;
  #client: pg.Client | null = null;
  #retry: TimerHandle | null = null;
  #stopped = false;
  /** Notifications are handled one after the other (a reference is read before the next). */
  #chain: Promise<void> = Promise.resolve();

  constructor(opts: PgEventFeedOptions) {
    this.#o = opts;
  }

  /** Connects and listens; resolves once listening (a failure is logged and retried). */
  async start(): Promise<void> {
    const { logger } = this.#o;
    const client = new pg.Client({ connectionString: this.#o.url, connectionTimeoutMillis: 10_000 });
    this.#client = client;
    let lost = false;
    const again = (err?: unknown): void => {
      if (lost || this.#stopped) {
        return;
      }
      lost = true;
      logger.warn({ err }, 'events of the other instances: connection lost, opening it again');
      void client.end().catch(() => undefined);
      this.#retry = this.#o.clock.setTimeout(() => {
        this.#retry = null;
        void this.start();
      }, this.#o.retryMs ?? 1000);
    };
    client.on('error', again);
    client.on('end', () => again());
    client.on('notification', (n) => {
      if (n.channel === NOTIFY_CHANNEL && n.payload) {
        const payload = n.payload;
        this.#chain = this.#chain.then(() => this.#handle(payload));
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      logger.debug('events of the other instances: listening');
    } catch (err) {
      again(err);
    }
  }

  async #handle(payload: string): Promise<void> {
    const space = payload.indexOf(' ');
    if (payload.slice(0, space) === this.#o.instance) {
      return;
    }
    const rest = payload.slice(space + 1);
    try {
      let event: CallEvent | undefined;
      if (rest.startsWith('@')) {
        const [seq, callId] = [Number(rest.slice(1, rest.indexOf(' '))), rest.slice(rest.indexOf(' ') + 1)];
        const r = await this.#o.pool.query<{ body: string }>(
          'SELECT body FROM events WHERE call_id = $1 AND seq = $2',
          [callId, seq],
        );
        event = r.rows[0] ? (JSON.parse(r.rows[0].body) as CallEvent) : undefined;
      } else {
        event = JSON.parse(rest) as CallEvent;
      }
      if (event) {
        this.#o.onEvent(event);
      }
    } catch (err) {
      this.#o.logger.warn({ err }, 'events of the other instances: a notification could not be read');
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retry !== null) {
      this.#o.clock.clearTimeout(this.#retry);
      this.#retry = null;
    }
    await this.#client?.end().catch(() => undefined);
    await this.#chain;
  }
}
