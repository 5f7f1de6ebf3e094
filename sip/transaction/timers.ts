/**
 * RFC 3261 timer values (§17.1.1.1, Table 4 of Appendix A). T1/T2/T4 are options, never globals.
 */
import type { Clock, TimerHandle } from '../../lib/clock.js';

export interface TimerConfig {
  /** RTT estimate, default 500 ms. */
  t1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses, default 4 s. */
  t2: number;
  /** Maximum duration a message remains in the network, default 5 s. */
  t4: number;
}

export const DEFAULT_TIMERS: TimerConfig = { t1: 500, t2: 4000, t4: 5000 };

/**
 * Timer D (RFC 3261 §17.1.1.2, Table 4): how long an INVITE client transaction stays Completed to
 * re-ACK retransmitted non-2xx finals. "At least 32 s" over UDP, where the server's final is
 * retransmitted for up to 64·T1 (Timer H), so max(64·T1, 32 s); 0 over a reliable transport.
 */
export function timerD(timers: TimerConfig, reliable: boolean): number {
  return reliable ? 0 : Math.max(64 * timers.t1, 32_000);
}

/** Named timers of one state machine; setting a name again replaces the previous one. */
export class TimerSet {
  readonly #clock: Clock;
  readonly #handles = new Map<string, TimerHandle>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  set(name: string, ms: number, fn: () => void): void {
    this.clear(name);
    this.#handles.set(
      name,
      this.#clock.setTimeout(() => {
        this.#handles.delete(name);
        fn();
      }, ms),
    );
  }

  clear(name: string): void {
    const h = this.#handles.get(name);
    if (h !== undefined) {
      this.#clock.clearTimeout(h);
      this.#handles.delete(name);
    }
  }

  has(name: string): boolean {
    return this.#handles.has(name);
  }

  clearAll(): void {
    for (const h of this.#handles.values()) {
      this.#clock.clearTimeout(h);
    }
    this.#handles.clear();
  }
}
