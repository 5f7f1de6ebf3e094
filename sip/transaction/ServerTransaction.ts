/**
 * Server transactions (RFC 3261 §17.2): INVITE (§17.2.1, with the Accepted state of RFC 6026
 * §7.1) and non-INVITE (§17.2.2). Timers G, H, I, J (and L of RFC 6026) from the injected clock;
 * response retransmissions only over unreliable transports; retransmitted requests absorbed.
 */
import type { SipRequest, SipResponse } from '../message/SipMessage.js';
import { Transaction } from './Transaction.js';

type InviteServerState = 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'terminated';
type NonInviteServerState = 'trying' | 'proceeding' | 'completed' | 'terminated';

interface ServerTransactionEvents {
  /** INVITE only: Timer H fired, the ACK for our non-2xx final response never came. */
  onAckTimeout?(): void;
  /** INVITE only: an ACK matched the transaction while Accepted (RFC 6026 §7.1). */
  onAck?(ack: SipRequest): void;
}

abstract class ServerTransactionBase<S extends string> extends Transaction<S> {
  events: ServerTransactionEvents = {};
  protected last: SipResponse | undefined;

  /** The last response sent, if any. */
  get lastResponse(): SipResponse | undefined {
    return this.last;
  }

  abstract respond(res: SipResponse): void;
  abstract receiveRequest(req: SipRequest): void;

  protected resendLast(): void {
    if (this.last) {
      this.ctx.counters.retransmissionsSent++;
      this.ctx.sendResponse(this.last, this.flow);
    }
  }
}

/** INVITE server transaction, RFC 3261 §17.2.1 and RFC 6026 §7.1. */
export class InviteServerTransaction extends ServerTransactionBase<InviteServerState> {
  protected st: InviteServerState = 'proceeding';

  /** True until a final response was sent. */
  get pending(): boolean {
    return this.st === 'proceeding';
  }

  respond(res: SipResponse): void {
    const { t1, t2 } = this.ctx.timers;
    switch (this.st) {
      case 'proceeding':
        this.last = res;
        this.ctx.sendResponse(res, this.flow);
        if (res.status >= 200 && res.status < 300) {
          this.st = 'accepted';
          this.timers.set('L', 64 * t1, () => this.terminate());
        } else if (res.status >= 300) {
          this.st = 'completed';
          if (!this.flow.reliable) {
            this.#timerG(t1, t2);
          }
          this.timers.set('H', 64 * t1, () => {
            if (this.st === 'completed') {
              this.terminate();
              this.events.onAckTimeout?.();
            }
          });
        }
        return;
      case 'accepted':
        // 2xx retransmissions by the TU (RFC 6026 §7.1) pass through.
        if (res.status >= 200 && res.status < 300) {
          this.ctx.sendResponse(res, this.flow);
        }
        return;
      case 'completed':
      case 'confirmed':
      case 'terminated':
        return;
    }
  }

  #timerG(interval: number, t2: number): void {
    this.timers.set('G', interval, () => {
      if (this.st === 'completed') {
        this.resendLast();
        this.#timerG(Math.min(2 * interval, t2), t2);
      }
    });
  }

  /** A retransmitted INVITE or an ACK matching this transaction. */
  receiveRequest(req: SipRequest): void {
    if (req.method === 'ACK') {
      if (this.st === 'completed') {
        this.st = 'confirmed';
        this.timers.clear('G');
        this.timers.clear('H');
        this.timers.set('I', this.flow.reliable ? 0 : this.ctx.timers.t4, () => this.terminate());
      } else if (this.st === 'accepted') {
        this.events.onAck?.(req);
      } else {
        this.ctx.counters.retransmissionsAbsorbed++;
      }
      return;
    }
    this.ctx.counters.retransmissionsAbsorbed++;
    if (this.st === 'proceeding' || this.st === 'completed') {
      this.resendLast();
    }
  }
}

/** Non-INVITE server transaction, RFC 3261 §17.2.2. */
export class NonInviteServerTransaction extends ServerTransactionBase<NonInviteServerState> {
  protected st: NonInviteServerState = 'trying';

  get pending(): boolean {
    return this.st === 'trying' || this.st === 'proceeding';
  }

  respond(res: SipResponse): void {
    if (this.st === 'completed' || this.st === 'terminated') {
      return;
    }
    this.last = res;
    this.ctx.sendResponse(res, this.flow);
    if (res.status < 200) {
      this.st = 'proceeding';
      return;
    }
    this.st = 'completed';
    this.timers.set('J', this.flow.reliable ? 0 : 64 * this.ctx.timers.t1, () => this.terminate());
  }

  receiveRequest(): void {
    this.ctx.counters.retransmissionsAbsorbed++;
    if (this.st !== 'trying') {
      this.resendLast();
    }
  }
}

export type ServerTransaction = InviteServerTransaction | NonInviteServerTransaction;
