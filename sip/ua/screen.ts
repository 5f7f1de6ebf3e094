/**
 * The admission hook (`SipStackDelegate.screen`): every new out-of-dialog request is accepted,
 * dropped without any answer (no transaction, no state), or refused with a status answered
 * through its server transaction (which absorbs retransmissions), before anything else happens.
 * In-dialog requests and CANCELs of admitted INVITEs are not screened.
 */
import { RepeatedLog } from '../../lib/logger.js';
import { createResponse, newTag } from '../message/build.js';
import type { SipRequest } from '../message/SipMessage.js';
import type { ServerTransaction } from '../transaction/ServerTransaction.js';
import type { Flow, TransportProtocol } from '../transport/types.js';
import type { CallHost } from './types.js';

/** Where a screened request came from. */
export interface ScreenSource {
  readonly address: string;
  readonly port: number;
  readonly transport: TransportProtocol;
}

/**
 * What `screen` decides for a new out-of-dialog request: go on (`'accept'`), discard it without
 * any answer (`'drop'`), or answer this final status (300–699) and go no further.
 */
export type ScreenVerdict =
  | 'accept'
  | 'drop'
  | {
      readonly status: number;
      readonly reason?: string;
      /** Seconds for a `Retry-After` header (RFC 3261 §20.33), e.g. with a 503. */
      readonly retryAfter?: number;
    };

/** The delegate that screens (the stack's `SipStackDelegate`). */
interface ScreenDelegate {
  screen?(req: SipRequest, source: ScreenSource): ScreenVerdict;
}

export class RequestScreen {
  readonly #delegate: ScreenDelegate;
  readonly #host: Pick<CallHost, 'signalling' | 'logger' | 'counters' | 'commonHeaders'>;
  /** Requests dropped by the screen (a scanner's flood): logged once per minute with a count. */
  readonly #dropped: RepeatedLog;
  /** Requests `screen` answered with a status, between the screen and their transaction. */
  readonly #refused = new WeakMap<SipRequest, Exclude<ScreenVerdict, 'accept' | 'drop'>>();

  constructor(
    delegate: ScreenDelegate,
    host: Pick<CallHost, 'signalling' | 'logger' | 'counters' | 'commonHeaders' | 'clock'>,
  ) {
    this.#delegate = delegate;
    this.#host = host;
    this.#dropped = new RepeatedLog(host.logger, host.clock);
  }

  /** The delegate's admission for a request about to get a server transaction; false drops it. */
  admit(req: SipRequest, flow: Flow): boolean {
    if (!this.#delegate.screen || req.toTag !== undefined) {
      return true; // in-dialog requests are matched to their dialog (481 otherwise)
    }
    if (req.method === 'CANCEL' && this.#host.signalling.findInviteFor(req)) {
      return true; // cancels an INVITE that was admitted
    }
    const source = { address: flow.remote.address, port: flow.remote.port, transport: flow.protocol };
    let verdict: ScreenVerdict;
    try {
      verdict = this.#delegate.screen(req, source);
    } catch (err) {
      this.#host.logger.error(
        { err, method: req.method, callId: req.callId },
        'screen threw: request accepted',
      );
      return true;
    }
    if (verdict === 'drop') {
      this.#host.counters.screenedOut++;
      this.#dropped.log(
        'debug',
        'screened-out',
        { method: req.method, callId: req.callId, source: `${source.address}:${source.port}` },
        'request screened out: dropped without an answer',
      );
      return false;
    }
    if (verdict !== 'accept') {
      if (!Number.isInteger(verdict.status) || verdict.status < 300 || verdict.status > 699) {
        this.#host.logger.error({ status: verdict.status }, 'screen returned a status outside 300–699: 500');
        this.#refused.set(req, { status: 500 });
      } else {
        this.#refused.set(req, verdict);
      }
    }
    return true;
  }

  /** Answers a request `screen` refused with a status (with a To tag); true when it did. */
  answerRefused(req: SipRequest, tx: ServerTransaction): boolean {
    const refused = this.#refused.get(req);
    if (!refused) {
      return false;
    }
    this.#refused.delete(req);
    tx.respond(
      createResponse(req, refused.status, {
        toTag: newTag(),
        headers: [
          ...this.#host.commonHeaders('response'),
          ...(refused.retryAfter !== undefined
            ? [{ name: 'Retry-After', value: String(Math.max(0, Math.round(refused.retryAfter))) }]
            : []),
        ],
        ...(refused.reason !== undefined ? { reason: refused.reason } : {}),
      }),
    );
    return true;
  }
}
