/**
 * Client transactions (RFC 3261 §17.1): INVITE (§17.1.1, with the Accepted state of RFC 6026
 * §7.2) and non-INVITE (§17.1.2). Timers A, B, D, E, F, K (and M of RFC 6026) from the injected
 * clock; retransmissions only over unreliable transports.
 */
import { requestLikeInvite } from '../message/build.js';
import { serialize, type SipRequest, type SipResponse } from '../message/SipMessage.js';
import type { Flow } from '../transport/types.js';
import type { TransactionContext } from './context.js';
import { timerD } from './timers.js';
import { Transaction } from './Transaction.js';

type InviteClientState = 'calling' | 'proceeding' | 'accepted' | 'completed' | 'terminated';
type NonInviteClientState = 'trying' | 'proceeding' | 'completed' | 'terminated';

/** What the transaction user hears. */
export interface ClientTransactionUser {
  /** 1xx responses. */
  onProvisional?(res: SipResponse): void;
  /** The final response; for INVITE also every retransmitted 2xx (RFC 6026 §7.2). */
  onFinal(res: SipResponse): void;
  /** Timer B or F fired without a final response. */
  onTimeout(): void;
}

abstract class ClientTransactionBase<S extends string> extends Transaction<S> {
  protected readonly user: ClientTransactionUser;
  protected readonly bytes: Buffer;

  constructor(
    key: string,
    request: SipRequest,
    flow: Flow,
    ctx: TransactionContext,
    user: ClientTransactionUser,
  ) {
    super(key, request, flow, ctx);
    this.user = user;
    this.bytes = serialize(request);
  }

  abstract receiveResponse(res: SipResponse): void;

  protected retransmit(): void {
    this.ctx.counters.retransmissionsSent++;
    this.flow.send(this.bytes);
  }
}

/** INVITE client transaction, RFC 3261 §17.1.1 and RFC 6026 §7.2. */
export class InviteClientTransaction extends ClientTransactionBase<InviteClientState> {
  protected st: InviteClientState = 'calling';
  #ack: Buffer | undefined;

  /** Sends the INVITE and starts Timers A (unreliable only) and B. */
  start(): void {
    const { t1 } = this.ctx.timers;
    this.flow.send(this.bytes);
    if (!this.flow.reliable) {
      this.#timerA(t1);
    }
    this.timers.set('B', 64 * t1, () => {
      if (this.st === 'calling') {
        this.ctx.counters.transactionTimeouts++;
        this.terminate();
        this.user.onTimeout();
      }
    });
  }

  #timerA(interval: number): void {
    this.timers.set('A', interval, () => {
      if (this.st === 'calling') {
        this.retransmit();
        this.#timerA(interval * 2);
      }
    });
  }

  receiveResponse(res: SipResponse): void {
    const status = res.status;
    switch (this.st) {
      case 'calling':
      case 'proceeding':
        if (status < 200) {
          this.st = 'proceeding';
          this.timers.clear('A');
          this.timers.clear('B');
          this.user.onProvisional?.(res);
        } else if (status < 300) {
          // RFC 6026 §7.2: Accepted; the TU sends the ACK and absorbs 2xx retransmissions.
          this.st = 'accepted';
          this.timers.clearAll();
          this.timers.set('M', 64 * this.ctx.timers.t1, () => this.terminate());
          this.user.onFinal(res);
        } else {
          this.st = 'completed';
          this.timers.clearAll();
          this.#ack = serialize(ackForNon2xx(this.request, res));
          this.flow.send(this.#ack);
          this.timers.set('D', timerD(this.ctx.timers, this.flow.reliable), () => this.terminate());
          this.user.onFinal(res);
        }
        return;
      case 'accepted':
        if (status >= 200 && status < 300) {
          this.user.onFinal(res);
        }
        return;
      case 'completed':
        if (status >= 300 && this.#ack) {
          this.ctx.counters.retransmissionsSent++;
          this.flow.send(this.#ack);
        }
        return;
      case 'terminated':
        return;
    }
  }
}

/** Non-INVITE client transaction, RFC 3261 §17.1.2. */
export class NonInviteClientTransaction extends ClientTransactionBase<NonInviteClientState> {
  protected st: NonInviteClientState = 'trying';

  /** Sends the request and starts Timers E (unreliable only) and F. */
  start(): void {
    const { t1 } = this.ctx.timers;
    this.flow.send(this.bytes);
    if (!this.flow.reliable) {
      this.#timerE(t1);
    }
    this.timers.set('F', 64 * t1, () => {
      if (this.st === 'trying' || this.st === 'proceeding') {
        this.ctx.counters.transactionTimeouts++;
        this.terminate();
        this.user.onTimeout();
      }
    });
  }

  #timerE(interval: number): void {
    this.timers.set('E', interval, () => {
      if (this.st === 'trying' || this.st === 'proceeding') {
        this.retransmit();
        const next =
          this.st === 'proceeding' ? this.ctx.timers.t2 : Math.min(2 * interval, this.ctx.timers.t2);
        this.#timerE(next);
      }
    });
  }

  receiveResponse(res: SipResponse): void {
    if (this.st !== 'trying' && this.st !== 'proceeding') {
      return; // Completed absorbs retransmitted responses.
    }
    if (res.status < 200) {
      this.st = 'proceeding';
      this.user.onProvisional?.(res);
      return;
    }
    this.st = 'completed';
    this.timers.clearAll();
    this.timers.set('K', this.flow.reliable ? 0 : this.ctx.timers.t4, () => this.terminate());
    this.user.onFinal(res);
  }
}

/**
 * The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): same Request-URI, Call-ID, From,
 * CSeq number and top Via as the INVITE; To from the response; Route copied.
 */
function ackForNon2xx(invite: SipRequest, res: SipResponse): SipRequest {
  return requestLikeInvite(invite, 'ACK', res.get('to') ?? '');
}
