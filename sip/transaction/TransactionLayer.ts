/**
 * The transaction layer (RFC 3261 §17): matches incoming requests to server transactions
 * (§17.2.3, with the RFC 2543 fallback for branches without the magic cookie) and responses to
 * client transactions (§17.1.3), creates client transactions for outgoing requests (adding the
 * Via with a fresh branch and `;rport`, RFC 3581), and sends ACKs for 2xx outside transactions.
 */
import type { Clock } from '../../lib/clock.js';
import type { SipCounters } from '../counters.js';
import { SipTransactionTimeoutError, SipTransportError } from '../errors.js';
import { RepeatedLog, type Logger } from '../../lib/logger.js';
import { newBranch } from '../message/build.js';
import { serialize, type SipRequest, type SipResponse } from '../message/SipMessage.js';
import { formatVia, MAGIC_COOKIE } from '../message/via.js';
import type { TransportLayer } from '../transport/TransportLayer.js';
import type { Flow, Target } from '../transport/types.js';
import {
  InviteClientTransaction,
  NonInviteClientTransaction,
  type ClientTransactionUser,
} from './ClientTransaction.js';
import type { TransactionContext } from './context.js';
import {
  InviteServerTransaction,
  NonInviteServerTransaction,
  type ServerTransaction,
} from './ServerTransaction.js';
import { DEFAULT_TIMERS, type TimerConfig } from './timers.js';

interface TransactionLayerOptions {
  clock: Clock;
  logger: Logger;
  counters: SipCounters;
  timers?: Partial<TimerConfig>;
}

interface TransactionLayerDelegate {
  /**
   * A new request. `tx` is its server transaction, or undefined for an ACK that matched none
   * (the ACK for a 2xx, RFC 3261 §17.2.3 / §13.3.1.4).
   */
  onRequest(req: SipRequest, tx: ServerTransaction | undefined, flow: Flow): void;
  /** A response that matched no client transaction (e.g. a retransmitted 2xx after Timer M). */
  onStrayResponse?(res: SipResponse, flow: Flow): void;
  /**
   * Consulted for a request that matched no server transaction (not an ACK), before one is
   * created: false discards it (no transaction, nothing sent). A retransmission of a discarded
   * request matches nothing either, so it is screened again.
   */
  screen?(req: SipRequest, flow: Flow): boolean;
}

/** Server transaction key per RFC 3261 §17.2.3; ACK and CANCEL given their own method. */
function serverKey(req: SipRequest, method: string = req.method === 'ACK' ? 'INVITE' : req.method): string {
  const via = req.via;
  const branch = via?.branch;
  if (branch?.startsWith(MAGIC_COOKIE)) {
    return `${branch}|${via?.host ?? ''}:${via?.port ?? ''}|${method}`;
  }
  // RFC 2543 fallback (§17.2.3): Request-URI, tags, Call-ID, CSeq number, top Via.
  return `2543|${req.uri}|${req.fromTag ?? ''}|${req.callId}|${req.cseq.seq}|${req.getAll('via')[0] ?? ''}|${method}`;
}

function clientKey(branch: string, method: string): string {
  return `${branch}|${method === 'ACK' ? 'INVITE' : method}`;
}

export class TransactionLayer {
  readonly transport: TransportLayer;
  readonly timers: TimerConfig;
  readonly #ctx: TransactionContext;
  readonly #delegate: TransactionLayerDelegate;
  readonly #servers = new Map<string, ServerTransaction>();
  readonly #clients = new Map<string, InviteClientTransaction | NonInviteClientTransaction>();
  /** Stray responses (anyone can send them): logged once per minute with a count. */
  readonly #strays: RepeatedLog;
  readonly #counters: SipCounters;

  constructor(transport: TransportLayer, opts: TransactionLayerOptions, delegate: TransactionLayerDelegate) {
    this.transport = transport;
    this.timers = { ...DEFAULT_TIMERS, ...opts.timers };
    this.#delegate = delegate;
    this.#strays = new RepeatedLog(opts.logger, opts.clock);
    this.#counters = opts.counters;
    this.#ctx = {
      clock: opts.clock,
      timers: this.timers,
      logger: opts.logger,
      counters: opts.counters,
      sendOn: (flow, msg) => transport.sendOn(flow, msg),
      sendResponse: (res, flow) => transport.sendResponse(res, flow),
      terminated: (key) => {
        this.#servers.delete(key);
        this.#clients.delete(key);
      },
    };
    transport.setDelegate({
      onRequest: (req, flow) => this.#onRequest(req, flow),
      onResponse: (res, flow) => this.#onResponse(res, flow),
    });
  }

  /** Live transactions (for tests and diagnostics). */
  get size(): { servers: number; clients: number } {
    return { servers: this.#servers.size, clients: this.#clients.size };
  }

  /** Terminates every transaction (timers cleared); used when the stack stops. */
  stop(): void {
    for (const tx of [...this.#servers.values(), ...this.#clients.values()]) {
      tx.terminate();
    }
  }

  /** The INVITE server transaction a CANCEL refers to (RFC 3261 §9.2). */
  findInviteFor(cancel: SipRequest): InviteServerTransaction | undefined {
    const tx = this.#servers.get(serverKey(cancel, 'INVITE'));
    return tx instanceof InviteServerTransaction ? tx : undefined;
  }

  #onRequest(req: SipRequest, flow: Flow): void {
    const key = serverKey(req);
    const existing = this.#servers.get(key);
    if (existing) {
      if (req.method === 'ACK' && existing instanceof InviteServerTransaction) {
        if (existing.state === 'accepted') {
          // RFC 6026 §7.1: an ACK for a 2xx matching by branch goes to the TU.
          this.#delegate.onRequest(req, undefined, flow);
          return;
        }
        existing.receiveRequest(req);
        return;
      }
      if (req.method !== 'ACK') {
        existing.receiveRequest(req);
        return;
      }
    }
    if (req.method === 'ACK') {
      this.#delegate.onRequest(req, undefined, flow);
      return;
    }
    if (this.#delegate.screen && !this.#delegate.screen(req, flow)) {
      return;
    }
    const tx =
      req.method === 'INVITE'
        ? new InviteServerTransaction(key, req, flow, this.#ctx)
        : new NonInviteServerTransaction(key, req, flow, this.#ctx);
    this.#servers.set(key, tx);
    this.#delegate.onRequest(req, tx, flow);
  }

  #onResponse(res: SipResponse, flow: Flow): void {
    const branch = res.via?.branch;
    const tx = branch === undefined ? undefined : this.#clients.get(clientKey(branch, res.cseq.method));
    if (tx) {
      tx.receiveResponse(res);
      return;
    }
    if (
      this.#delegate.onStrayResponse &&
      res.cseq.method === 'INVITE' &&
      res.status >= 200 &&
      res.status < 300
    ) {
      this.#delegate.onStrayResponse(res, flow);
      return;
    }
    this.#counters.strayResponses++;
    this.#strays.log('debug', 'stray', { status: res.status, callId: res.callId }, 'stray response dropped');
  }

  /** Prepends our Via (fresh branch, `;rport`) for sending on `flow`. Returns the branch. */
  addVia(req: SipRequest, flow: Flow, branch = newBranch()): string {
    const sb = this.transport.sentBy(flow);
    req.prepend(
      'Via',
      formatVia({
        transport: flow.protocol,
        host: sb.address,
        port: sb.port,
        params: new Map<string, string | null>([
          ['branch', branch],
          ['rport', null],
        ]),
      }),
    );
    return branch;
  }

  /**
   * Starts a client transaction for `req` towards `target`, adding our Via unless `req` has one.
   * @throws {SipTransportError} when no flow can be opened
   */
  async createClient(
    req: SipRequest,
    target: Target | Flow,
    user: ClientTransactionUser,
  ): Promise<InviteClientTransaction | NonInviteClientTransaction> {
    const flow = 'send' in target ? target : await this.transport.flowFor(target);
    // A CANCEL carries the INVITE's Via (RFC 3261 §9.1); every other request gets a new one.
    const existing = req.has('via') ? req.via?.branch : undefined;
    const branch = existing ?? this.addVia(req, flow);
    const key = clientKey(branch, req.method);
    const tx =
      req.method === 'INVITE'
        ? new InviteClientTransaction(key, req, flow, this.#ctx, user)
        : new NonInviteClientTransaction(key, req, flow, this.#ctx, user);
    this.#clients.set(key, tx);
    tx.start();
    return tx;
  }

  /**
   * Sends a non-INVITE request and resolves with its final response; provisional responses go
   * to `onProvisional`.
   * @throws {SipTransactionTimeoutError} (code SIP_ERR_TX_TIMEOUT) on Timer F
   * @throws {SipTransportError} (code SIP_ERR_TRANSPORT) when the request cannot be sent
   */
  async request(
    req: SipRequest,
    target: Target | Flow,
    opts: { onProvisional?: (res: SipResponse) => void } = {},
  ): Promise<SipResponse> {
    return await new Promise<SipResponse>((resolve, reject) => {
      this.createClient(req, target, {
        onProvisional: opts.onProvisional,
        onFinal: resolve,
        onTimeout: () => reject(new SipTransactionTimeoutError(`${req.method} to ${req.uri} timed out`)),
      }).catch((err: unknown) =>
        reject(err instanceof SipTransportError ? err : new SipTransportError(String(err), { cause: err })),
      );
    });
  }

  /** Sends a request outside any transaction (the ACK for a 2xx, RFC 3261 §13.2.2.4). */
  async sendStateless(req: SipRequest, target: Target | Flow): Promise<Flow> {
    const flow = 'send' in target ? target : await this.transport.flowFor(target);
    if (!req.has('via')) {
      this.addVia(req, flow);
    }
    flow.send(serialize(req));
    return flow;
  }
}
