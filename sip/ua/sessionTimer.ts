/**
 * Session timers (RFC 4028): reading Session-Expires/Min-SE, choosing the refresher, the
 * refresh/expiry schedule, and the UAS side of one dialog's session timer.
 */
import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { parseParams } from '../message/headers.js';
import type { HeaderField, SipRequest } from '../message/SipMessage.js';

export type Refresher = 'uac' | 'uas';

interface SessionExpires {
  interval: number;
  refresher: Refresher | undefined;
}

/**
 * The longest session interval we run (seconds). A UAS may lower the interval in its 2xx
 * (RFC 4028 §9), so a larger Session-Expires is answered with this one: a peer that vanishes
 * is noticed within 2 hours, and no interval comes near a timer's limits.
 */
export const MAX_SESSION_INTERVAL = 7200;

/** delta-seconds (RFC 3261 §25.1) fit in 32 bits (§20.19). */
const MAX_DELTA_SECONDS = 2 ** 32 - 1;

function deltaSeconds(text: string): number | undefined {
  const t = text.trim();
  return /^[0-9]{1,10}$/.test(t) && Number(t) <= MAX_DELTA_SECONDS ? Number(t) : undefined;
}

/**
 * Parses `Session-Expires: 1800;refresher=uac` (RFC 4028 §4): delta-seconds, then parameters of
 * which `refresher` must be `uac` or `uas`. Undefined when malformed.
 */
export function parseSessionExpires(value: string | undefined): SessionExpires | undefined {
  if (value === undefined) {
    return undefined;
  }
  const semi = value.indexOf(';');
  const interval = deltaSeconds(semi < 0 ? value : value.slice(0, semi));
  const params = semi < 0 ? new Map<string, string | null>() : parseParams(value.slice(semi));
  if (interval === undefined || !params) {
    return undefined;
  }
  const r = params.get('refresher');
  if (r === undefined) {
    return { interval, refresher: undefined };
  }
  const refresher = r?.toLowerCase();
  return refresher === 'uac' || refresher === 'uas' ? { interval, refresher } : undefined;
}

/** The Session-Expires and Min-SE of a request, checked against our Min-SE (RFC 4028 §8). */
type SessionTimerRequest =
  | { ok: true; se: SessionExpires | undefined }
  | { ok: false; status: 400 | 422; reason?: string; headers: HeaderField[] };

/**
 * Reads a request's session timer (RFC 4028 §8, §9): 400 for a malformed Session-Expires or
 * Min-SE (or a Min-SE above {@link MAX_SESSION_INTERVAL}, which we will not run), 422 with our
 * Min-SE for an interval below it; otherwise the Session-Expires as requested (the 2xx lowers
 * it, {@link sessionExpiresAnswer}).
 */
export function readSessionTimer(req: SipRequest, minSE: number): SessionTimerRequest {
  const seText = req.get('session-expires');
  const minText = req.get('min-se');
  const se = parseSessionExpires(seText);
  if (seText !== undefined && !se) {
    return { ok: false, status: 400, reason: 'Bad Session-Expires', headers: [] };
  }
  const theirMin = minSEOf(minText);
  if (theirMin === undefined || theirMin > MAX_SESSION_INTERVAL) {
    return { ok: false, status: 400, reason: 'Bad Min-SE', headers: [] };
  }
  if (!se) {
    return { ok: true, se: undefined };
  }
  if (se.interval < minSE) {
    return { ok: false, status: 422, headers: [{ name: 'Min-SE', value: String(minSE) }] };
  }
  return { ok: true, se };
}

/** `Min-SE: 90;params` (RFC 4028 §5): 0 when absent, undefined when malformed. */
function minSEOf(value: string | undefined): number | undefined {
  return value === undefined ? 0 : deltaSeconds(value.split(';')[0] ?? '');
}

/**
 * Runs one session's timers: when we refresh, `refresh()` at half the interval (§10); when the
 * peer refreshes, `expire()` at interval − min(32, interval/3) seconds without a refresh (§10).
 */
class SessionTimer {
  readonly #clock: Clock;
  #handle: TimerHandle | undefined;
  interval = 0;
  weRefresh = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  start(interval: number, weRefresh: boolean, refresh: () => void, expire: () => void): void {
    this.stop();
    const seconds = Math.min(interval, MAX_SESSION_INTERVAL);
    this.interval = seconds;
    this.weRefresh = weRefresh;
    const ms = weRefresh ? (seconds * 1000) / 2 : (seconds - Math.min(32, seconds / 3)) * 1000;
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
 * Session-Expires (and Require: timer) for our 2xx to `req` (RFC 4028 §9): the interval lowered
 * to {@link MAX_SESSION_INTERVAL} but not below the request's Min-SE; keep the refresher the UAC
 * chose; otherwise the UAC refreshes when it supports timers, else we do.
 */
function sessionExpiresAnswer(
  requested: SessionExpires,
  req: SipRequest,
): { se: SessionExpires; refresher: Refresher; headers: HeaderField[] } {
  const theirMin = Math.min(minSEOf(req.get('min-se')) ?? 0, MAX_SESSION_INTERVAL);
  const se = {
    interval: Math.max(theirMin, Math.min(requested.interval, MAX_SESSION_INTERVAL)),
    refresher: requested.refresher,
  };
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
  return { se, refresher, headers };
}

/** What {@link UasSessionTimer} needs from its call. */
interface UasSessionActions {
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
    const { se, refresher, headers } = sessionExpiresAnswer(this.#se, req);
    this.#se = se;
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
