/**
 * The UAS core's 2xx reliability (RFC 3261 §13.3.1.4, RFC 6026 §8.1): the 2xx to an INVITE is
 * retransmitted (T1 doubling up to T2, over every transport) until the ACK with the same
 * CSeq arrives; without an ACK after 64·T1 the dialog must be ended.
 */
import type { SipRequest, SipResponse } from '../message/SipMessage.js';
import { TimerSet } from '../transaction/timers.js';
import type { Flow } from '../transport/types.js';
import type { CallHost } from './types.js';

export class Reliable2xx {
  readonly #host: CallHost;
  readonly #flow: Flow;
  readonly #timers: TimerSet;
  #cseq: number | undefined;
  #onAck: ((ack: SipRequest) => void) | undefined;

  constructor(host: CallHost, flow: Flow) {
    this.#host = host;
    this.#flow = flow;
    this.#timers = new TimerSet(host.clock);
  }

  /** True while a 2xx waits for its ACK (a new re-INVITE then gets 500, RFC 3261 §14.2). */
  get pending(): boolean {
    return this.#cseq !== undefined;
  }

  /** Starts retransmitting `res` (the 2xx to the INVITE with CSeq `cseq`). */
  start(cseq: number, res: SipResponse, onAck: (ack: SipRequest) => void, onTimeout: () => void): void {
    const { t1, t2 } = this.#host.signalling.timers;
    this.#cseq = cseq;
    this.#onAck = onAck;
    // "Since 2xx is retransmitted end-to-end, there may be hops between UAS and UAC that are UDP":
    // unlike transaction retransmissions this also happens over TCP/TLS (RFC 3261 §13.3.1.4).
    const retransmit = (interval: number): void => {
      this.#timers.set('2xx', interval, () => {
        this.#host.counters.retransmissionsSent++;
        this.#host.signalling.sendResponse(res, this.#flow);
        retransmit(Math.min(2 * interval, t2));
      });
    };
    retransmit(t1);
    this.#timers.set('ack', 64 * t1, () => {
      this.stop();
      onTimeout();
    });
  }

  /** An ACK arrived; returns true when it was the one awaited (its callback has run). */
  ack(ack: SipRequest): boolean {
    if (this.#cseq === undefined || ack.cseq.seq !== this.#cseq) {
      return false;
    }
    const cb = this.#onAck;
    this.stop();
    cb?.(ack);
    return true;
  }

  stop(): void {
    this.#cseq = undefined;
    this.#onAck = undefined;
    this.#timers.clearAll();
  }
}
