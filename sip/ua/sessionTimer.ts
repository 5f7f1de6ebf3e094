/**
 * Session timers (RFC 4028): reading Session-Expires/Min-SE, choosing the refresher, and the
 * refresh/expiry schedule.
 */
import type { Clock, TimerHandle } from '../clock.js';
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
