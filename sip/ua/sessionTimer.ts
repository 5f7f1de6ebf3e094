/**
 * Session timers (RFC 4028): reading Session-Expires/Min-SE, choosing the refresher, the
 * refresh/expiry schedule, and the UAS side of one dialog's session timer.
 */
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../logger.js';
import type { HeaderField, SipRequest } from '../message/SipMessage.js';

export type Refresher = 'uac' | 'uas';

export interface SessionExpires {
  interval: number;
  refresher: Refresher | undefined;
}

/** Parses `Session-Expires: 1800;refresher=uac` (RFC 4028 §4). */
export function parseSessionExpires(value: string | undefined): SessionExpires | undefined {
  if (value === undefined) {
    return undefined;
  }
  const m = /^\s*([0-9]{1,10})\s*(;.*)?$/.exec(value);
  if (!m) {
    return undefined;
  }
  const r = /;\s*refresher\s*=\s*(uac|uas)/i.exec(m[2] ?? '')?.[1]?.toLowerCase();
  return { interval: Number(m[1]), refresher: r === 'uac' || r === 'uas' ? r : undefined };
}

/**
 * Runs one session's timers: when we refresh, `refresh()` at half the interval (§10); when the
 * peer refreshes, `expire()` at interval − min(32, interval/3) seconds without a refresh (§10).
 */
export class SessionTimer {
  readonly #clock: Clock;
  #handle: TimerHandle | undefined;
  interval = 0;
  weRefresh = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  start(interval: number, weRefresh: boolean, refresh: () => void, expire: () => void): void {
    this.stop();
    this.interval = interval;
    this.weRefresh = weRefresh;
    const ms = weRefresh ? (interval * 1000) / 2 : (interval - Math.min(32, interval / 3)) * 1000;
    this.#handle = this.#clock.setTimeout(() => {
      this.#handle = undefined;
      if (weRefresh) {
        refresh();
      } else {
        expire();
      }
    }, ms);
  }

  stop(): void {
    if (this.#handle !== undefined) {
      this.#clock.clearTimeout(this.#handle);
      this.#handle = undefined;
    }
  }
}

/**
 * Session-Expires (and Require: timer) for our 2xx to `req` (RFC 4028 §9): keep the refresher
 * the UAC chose; otherwise the UAC refreshes when it supports timers, else we do.
 */
export function sessionExpiresAnswer(
  se: SessionExpires,
  req: SipRequest,
): { refresher: Refresher; headers: HeaderField[] } {
  const uacSupports = [...req.getAll('supported'), ...req.getAll('require')].some(
    (t) => t.toLowerCase() === 'timer',
  );
  const refresher: Refresher = se.refresher ?? (uacSupports ? 'uac' : 'uas');
  const headers: HeaderField[] = [
    { name: 'Session-Expires', value: `${se.interval};refresher=${refresher}` },
  ];
  if (uacSupports) {
    headers.push({ name: 'Require', value: 'timer' });
  }
  return { refresher, headers };
}

/** What {@link UasSessionTimer} needs from its call. */
export interface UasSessionActions {
  /** True while the session is established (refreshes and their outcome only count then). */
  established(): boolean;
  /**
   * Sends our refresh with this interval (UPDATE or re-INVITE, RFC 4028 §7.4) and resolves with
   * its final status; undefined when there is no dialog or next hop to send it on.
   */
  sendRefresh(interval: number): Promise<number> | undefined;
  /** Ends the session (BYE with reason `session-expired`, RFC 4028 §10). */
  expire(): void;
}

/**
 * The session timer of one UAS dialog (RFC 4028 §9–10): the Session-Expires in force and who
 * refreshes, the headers of our 2xx, the schedule, our refreshes (a failed one ends the session)
 * and the end of a session the peer stopped refreshing.
 */
export class UasSessionTimer {
  readonly #timer: SessionTimer;
  readonly #logger: Logger;
  readonly #callId: string;
  readonly #actions: UasSessionActions;
  #se: SessionExpires | undefined;
  #refresher: Refresher | undefined;
  #refreshing = false;

  constructor(
    clock: Clock,
    logger: Logger,
    callId: string,
    se: SessionExpires | undefined,
    actions: UasSessionActions,
  ) {
    this.#timer = new SessionTimer(clock);
    this.#logger = logger;
    this.#callId = callId;
    this.#se = se;
    this.#actions = actions;
  }

  /** The interval and refresher in force, once a 2xx announced them. */
  get current(): { interval: number; refresher: Refresher } | undefined {
    return this.#se && this.#refresher
      ? { interval: this.#se.interval, refresher: this.#refresher }
      : undefined;
  }

  /** True while our refresh is in flight (a re-INVITE/UPDATE from the peer then gets 491). */
  get refreshing(): boolean {
    return this.#refreshing;
  }

  /** A re-INVITE/UPDATE brought a new Session-Expires (already checked against Min-SE). */
  adopt(se: SessionExpires): void {
    this.#se = se;
  }

  /** Session-Expires/Require for a 2xx to `req` (RFC 4028 §9); fixes the refresher. */
  answerHeaders(req: SipRequest): HeaderField[] {
    if (!this.#se) {
      return [];
    }
    const { refresher, headers } = sessionExpiresAnswer(this.#se, req);
    this.#refresher = refresher;
    return headers;
  }

  /** (Re)starts the schedule: our refresh at half the interval, or the expiry (§10). */
  start(): void {
    const se = this.#se;
    if (!se || !this.#refresher) {
      return;
    }
    this.#timer.start(
      se.interval,
      this.#refresher === 'uas',
      () => void this.#refresh(),
      () => {
        this.#logger.info({ callId: this.#callId }, 'session expired without refresh');
        this.#actions.expire();
      },
    );
  }

  stop(): void {
    this.#timer.stop();
  }

  async #refresh(): Promise<void> {
    const se = this.#se;
    if (!se || !this.#actions.established()) {
      return;
    }
    this.#refreshing = true;
    const sent = this.#actions.sendRefresh(se.interval);
    if (!sent) {
      this.#refreshing = false;
      return;
    }
    try {
      this.#refreshed(await sent);
    } finally {
      this.#refreshing = false;
    }
  }

  #refreshed(status: number): void {
    if (!this.#actions.established()) {
      return;
    }
    if (status === 408 || status === 481 || status >= 500) {
      this.#actions.expire();
    } else {
      this.start();
    }
  }
}
