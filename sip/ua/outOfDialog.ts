/**
 * The UAS core's answers to new requests outside any dialog (RFC 3261 §8.2): the checks of
 * `checks.ts` (416, 420, 415, 406, 400, 422), OPTIONS (§11.2), 481 for in-dialog methods without
 * a dialog (§12.2.2), 405 for methods we know but do not accept and 501 for the rest (§8.2.1),
 * and merged requests (§8.2.2.2: the same INVITE by another path gets 482).
 */
import type { Clock } from '../../lib/clock.js';
import { createResponse } from '../message/build.js';
import type { SipRequest } from '../message/SipMessage.js';
import type { ServerTransaction } from '../transaction/ServerTransaction.js';
import type { TimerConfig } from '../transaction/timers.js';
import type { Flow } from '../transport/types.js';
import { acceptedBodies, checkRequest } from './checks.js';
import type { CallHost } from './types.js';

/** Methods we know but do not accept (answered 405 rather than 501). */
const KNOWN_METHODS = new Set(['REGISTER', 'SUBSCRIBE', 'NOTIFY', 'MESSAGE', 'REFER', 'PUBLISH', 'PRACK']);

/**
 * Answers a new out-of-dialog request (no To tag, not ACK/CANCEL) unless it is an INVITE that
 * passed the checks; returns the status it answered with, or null for such an INVITE.
 */
export function answerOutOfDialog(
  req: SipRequest,
  tx: ServerTransaction,
  flow: Flow,
  host: Pick<CallHost, 'commonHeaders' | 'contactFor' | 'sessionTimer' | 'siprec'>,
): number | null {
  const rejection = checkRequest(req, host.sessionTimer.minSE, host.siprec);
  if (rejection) {
    tx.respond(
      createResponse(req, rejection.status, {
        headers: [...host.commonHeaders('response'), ...rejection.headers],
        ...(rejection.reason !== undefined ? { reason: rejection.reason } : {}),
      }),
    );
    return rejection.status;
  }
  switch (req.method) {
    case 'INVITE':
      return null;
    case 'OPTIONS':
      tx.respond(
        createResponse(req, 200, {
          headers: [
            ...host.commonHeaders('response'),
            { name: 'Accept', value: acceptedBodies(host.siprec).join(', ') },
            { name: 'Accept-Language', value: 'en' },
            { name: 'Contact', value: host.contactFor(flow) },
          ],
        }),
      );
      return 200;
    case 'BYE':
    case 'UPDATE':
    case 'INFO':
    case 'PRACK':
      tx.respond(createResponse(req, 481));
      return 481;
    default: {
      const status = KNOWN_METHODS.has(req.method) ? 405 : 501;
      tx.respond(createResponse(req, status, { headers: host.commonHeaders('response') }));
      return status;
    }
  }
}

/**
 * Recent dialog-creating INVITEs by Call-ID, From tag and CSeq, each kept for 64·T1, so that the
 * same request arriving by another path (another branch) is recognised (RFC 3261 §8.2.2.2).
 */
export class MergedRequests {
  readonly #clock: Clock;
  readonly #timers: Readonly<TimerConfig>;
  readonly #recent = new Map<string, string>();

  constructor(clock: Clock, timers: Readonly<TimerConfig>) {
    this.#clock = clock;
    this.#timers = timers;
  }

  /** True when `req` is a merged request (answer 482); otherwise remembers it. */
  merged(req: SipRequest): boolean {
    const key = `${req.callId}|${req.fromTag ?? ''}|${req.cseq.seq}`;
    const branch = req.via?.branch ?? '';
    const seen = this.#recent.get(key);
    if (seen !== undefined && seen !== branch) {
      return true;
    }
    this.#recent.set(key, branch);
    this.#clock.setTimeout(() => this.#recent.delete(key), 64 * this.#timers.t1);
    return false;
  }
}
