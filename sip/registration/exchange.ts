import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from '../../lib/logger.js';
import { DigestClient, type AuthorizationHeader } from '../auth/DigestClient.js';
import { contactUri, grantedExpires } from './contact.js';
import type { RegistrationAccount, RegistrationOptions } from './options.js';
import { buildRegister } from './request.js';
import type { OutgoingRegister, RegisterResponse, RegistrationTransport } from './types.js';
import type { TransportProtocol } from '../transport/types.js';

/** How one REGISTER exchange ended. */
export type Outcome =
  | { readonly kind: 'ok'; readonly granted: number }
  | {
      readonly kind: 'failure';
      readonly status: number;
      readonly reason: string;
      readonly error?: string;
      readonly retryAfterS?: number;
    }
  | { readonly kind: 'cancelled' };

const DEFAULT_ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE';

/** The fixed parts of one account's registrations (validated by `Registration`). */
interface RegisterBinding {
  readonly account: RegistrationAccount;
  /** `sip:user@domain`. */
  readonly aor: string;
  /** Where REGISTERs go: the outbound proxy, else the registrar. */
  readonly target: string;
  readonly transport: TransportProtocol;
}

/**
 * The REGISTER exchanges of one account (RFC 3261 §10.2): one Call-ID and From tag for all of
 * them (§10.2.4), CSeq + 1 per request, digest answers to 401/407 (stale nonces, nonce re-use
 * with nc + 1 on refreshes, RFC 3261 §22.2), `423 Interval Too Brief` + Min-Expires (§10.2.8,
 * kept for later refreshes), and the granted expiry of the 2xx.
 */
export class RegisterExchange {
  readonly #binding: RegisterBinding;
  readonly #transport: RegistrationTransport;
  readonly #log: Logger;
  readonly #opts: RegistrationOptions;
  readonly #digest: DigestClient;
  readonly #callId = `${randomBytes(12).toString('hex')}@sipscribe`;
  readonly #fromTag = randomBytes(6).toString('hex');
  readonly #instanceId: string;
  #cseq = 0;
  /** The expiry we ask for (the account's, raised by a 423). */
  expires: number;

  constructor(
    binding: RegisterBinding,
    transport: RegistrationTransport,
    options: RegistrationOptions,
    log: Logger,
  ) {
    const { account } = binding;
    this.#binding = binding;
    this.#transport = transport;
    this.#log = log;
    this.#opts = options;
    this.expires = account.expires ?? 3600;
    this.#instanceId = options.instanceId ?? `urn:uuid:${randomUUID()}`;
    this.#digest = new DigestClient(
      {
        username: account.authUsername ?? account.username,
        password: account.password,
        ...(account.realm !== undefined ? { realm: account.realm } : {}),
      },
      options.cnonce !== undefined ? { cnonce: options.cnonce } : {},
    );
  }

  /**
   * One REGISTER exchange asking for `expires` (0 unregisters), following digest challenges and
   * 423 until a final verdict. `current()` false (a newer attempt or `stop()`) cancels it;
   * `onContact` hears our Contact URI before the first REGISTER goes out.
   */
  async run(expires: number, current: () => boolean, onContact: (contact: string) => void): Promise<Outcome> {
    const { account, target, transport } = this.#binding;
    let local;
    try {
      local = await this.#transport.localContact(target, transport);
    } catch (err) {
      return transportFailure(err);
    }
    if (!current()) {
      return { kind: 'cancelled' };
    }
    const secure = [account.registrar, account.outboundProxy].some(
      (u) => u !== undefined && /^sips:/i.test(u),
    );
    const contact = contactUri(account.username, local, true, secure);
    onContact(contact);
    let auth: readonly AuthorizationHeader[] = this.#digest.authorize({
      method: 'REGISTER',
      uri: account.registrar,
    });
    let intervalRetries = 0;
    for (let round = 0; round < 10; round++) {
      const request = this.#request(contact, expires, auth);
      let res: RegisterResponse;
      try {
        res = await this.#transport.sendRegister(request);
      } catch (err) {
        return transportFailure(err);
      }
      if (!current()) {
        return { kind: 'cancelled' };
      }
      this.#log.debug({ account: account.id, status: res.status, expires }, 'REGISTER answered');
      if (res.status === 401 || res.status === 407) {
        const challenges = res.getAll(res.status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate');
        const answer = this.#digest.respond(res.status, challenges, {
          method: 'REGISTER',
          uri: account.registrar,
        });
        if (answer.kind === 'retry') {
          auth = answer.headers;
          continue;
        }

        return {
          kind: 'failure',
          status: res.status,
          reason: `${res.reason}: ${answer.reason}`,
          error: answer.kind === 'rejected' ? 'SIP_ERR_AUTH_REJECTED' : 'SIP_ERR_AUTH_UNSUPPORTED',
        };
      }
      this.#digest.accepted();
      if (res.status === 423 && expires > 0) {
        const min = Number((res.get('Min-Expires') ?? '').trim());
        if (Number.isInteger(min) && min > expires && intervalRetries++ < 2) {
          this.#log.info({ account: account.id, minExpires: min }, '423 Interval Too Brief: raising expires');
          this.expires = min;
          expires = min;
          auth = this.#digest.authorize({ method: 'REGISTER', uri: account.registrar });
          continue;
        }
      }
      if (res.status >= 200 && res.status < 300) {
        if (expires === 0) {
          return { kind: 'ok', granted: 0 };
        }
        const granted = grantedExpires(contact, res.getAll('Contact'), res.get('Expires')) ?? expires;

        return { kind: 'ok', granted };
      }
      const retryAfter = Number((res.get('Retry-After') ?? '').trim().split(/[\s;(]/)[0]);

      return {
        kind: 'failure',
        status: res.status,
        reason: res.reason,
        ...(Number.isInteger(retryAfter) && retryAfter > 0 ? { retryAfterS: retryAfter } : {}),
      };
    }

    return { kind: 'failure', status: 500, reason: 'too many REGISTER rounds', error: 'SIP_ERR_REG_LOOP' };
  }

  #request(contact: string, expires: number, auth: readonly AuthorizationHeader[]): OutgoingRegister {
    const { account, aor, target, transport } = this.#binding;
    return buildRegister({
      account,
      aor,
      fromTag: this.#fromTag,
      callId: this.#callId,
      cseq: ++this.#cseq,
      contact,
      expires,
      auth,
      target,
      transport,
      outbound: this.#opts.outbound === true && transport !== 'udp',
      instanceId: this.#instanceId,
      allow: this.#opts.allow ?? DEFAULT_ALLOW,
      ...(this.#opts.userAgent !== undefined ? { userAgent: this.#opts.userAgent } : {}),
    });
  }
}

/** A REGISTER that could not be sent or got no answer: 408 for Timer F, else 503 (RFC 3261 §8.1.3.1). */
function transportFailure(err: unknown): Outcome {
  const code = (err as { code?: unknown } | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'SIP_ERR_TX_TIMEOUT') {
    return { kind: 'failure', status: 408, reason: `Request Timeout (${message})`, error: code };
  }

  return {
    kind: 'failure',
    status: 503,
    reason: `Service Unavailable (${message})`,
    error: typeof code === 'string' ? code : 'SIP_ERR_TRANSPORT',
  };
}
