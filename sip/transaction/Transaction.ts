/**
 * What every transaction has, client or server (RFC 3261 §17): its key, request and flow, its
 * timers on the injected clock, its state, and an idempotent `terminate()` that clears the timers
 * and removes it from the transaction layer.
 */
import type { SipRequest } from '../message/SipMessage.js';
import type { Flow } from '../transport/types.js';
import type { TransactionContext } from './context.js';
import { TimerSet } from './timers.js';

export abstract class Transaction<S extends string> {
  readonly key: string;
  readonly request: SipRequest;
  readonly flow: Flow;
  protected readonly ctx: TransactionContext;
  protected readonly timers: TimerSet;

  constructor(key: string, request: SipRequest, flow: Flow, ctx: TransactionContext) {
    this.key = key;
    this.request = request;
    this.flow = flow;
    this.ctx = ctx;
    this.timers = new TimerSet(ctx.clock);
  }

  /** The RFC 3261 §17 state; subclasses initialise it. */
  protected abstract st: S;

  get state(): S {
    return this.st;
  }

  /** Ends the transaction at once (its timers too); idempotent. */
  terminate(): void {
    if (this.st === 'terminated') {
      return;
    }
    this.st = 'terminated' as S;
    this.timers.clearAll();
    this.ctx.terminated(this.key);
  }
}
