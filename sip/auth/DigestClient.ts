import { randomBytes } from 'node:crypto';
import { parseChallenge, type DigestChallenge } from './challenge.js';
import { computeDigestResponse, formatNc, type DigestAlgorithm, type DigestQop } from './digest.js';
import { DigestError } from './errors.js';
import { quote } from './params.js';

/** What a client authenticates with. */
export interface DigestAccount {
  /** The auth username (may differ from the AOR user). */
  readonly username: string;
  readonly password: string;
  /** Answer only challenges of this realm; any realm when absent. */
  readonly realm?: string;
}

/** A header to add to the retried request. */
export interface AuthorizationHeader {
  readonly name: 'Authorization' | 'Proxy-Authorization';
  readonly value: string;
}

/** The request being authorised: method, Request-URI as sent, and body (for auth-int). */
interface AuthorizedRequest {
  readonly method: string;
  readonly uri: string;
  readonly body?: string | Uint8Array;
}

/**
 * What to do with a 401/407:
 * - `retry`: send the request again (new CSeq) with `headers`; `stale` tells that the server only
 *   refreshed its nonce (RFC 7616 §3.3), which is not a failure;
 * - `rejected`: the server challenged credentials it had just been given (wrong password, unknown
 *   user) — do not retry, report the status;
 * - `unsupported`: no challenge offered a scheme/algorithm/qop (or realm) we can answer.
 */
type ChallengeOutcome =
  | { readonly kind: 'retry'; readonly headers: readonly AuthorizationHeader[]; readonly stale: boolean }
  | { readonly kind: 'rejected'; readonly reason: string }
  | { readonly kind: 'unsupported'; readonly reason: string };

interface DigestClientOptions {
  /** Produces a client nonce; random 128 bits (hex) by default. Tests pass a fixed one. */
  readonly cnonce?: () => string;
  /** How many `stale=true` challenges in a row are followed before giving up (default 3). */
  readonly maxStaleRetries?: number;
}

interface RealmState {
  readonly header: AuthorizationHeader['name'];
  challenge: DigestChallenge;
  cnonce: string;
  /** Requests already sent with this nonce. */
  nc: number;
  /** Credentials for this realm were sent and not yet accepted: 'fresh' = answer to a challenge. */
  pending: 'none' | 'fresh' | 'preemptive';
}

/**
 * Client side of SIP digest authentication (RFC 3261 §22.2–22.3, RFC 7616, RFC 8760) for one
 * account: answers `WWW-Authenticate`/`Proxy-Authenticate` challenges with
 * `Authorization`/`Proxy-Authorization`, keeps one nonce count per nonce (incremented per request,
 * RFC 7616 §3.4), and re-uses the last challenge of each realm for later requests (`authorize`).
 *
 * Use one instance per registration or per dialog. Call {@link respond} on every 401/407 and
 * {@link accepted} on any other final response to a request that carried credentials.
 *
 * When several challenges share a realm, the topmost one with a supported algorithm is answered
 * (RFC 8760 §2.4: the server lists them in its order of preference).
 */
export class DigestClient {
  readonly #account: DigestAccount;
  readonly #cnonce: () => string;
  readonly #maxStale: number;
  readonly #realms = new Map<string, RealmState>();
  #staleInARow = 0;

  constructor(account: DigestAccount, options: DigestClientOptions = {}) {
    this.#account = account;
    this.#cnonce = options.cnonce ?? ((): string => randomBytes(16).toString('hex'));
    this.#maxStale = options.maxStaleRetries ?? 3;
  }

  /**
   * Answers the challenges of a 401 (`WWW-Authenticate` values) or 407 (`Proxy-Authenticate`
   * values) for `request`.
   */
  respond(status: number, challengeValues: readonly string[], request: AuthorizedRequest): ChallengeOutcome {
    const header: AuthorizationHeader['name'] = status === 407 ? 'Proxy-Authorization' : 'Authorization';
    const problems: string[] = [];
    const chosen = new Map<string, DigestChallenge>();
    for (const value of challengeValues) {
      let challenge: DigestChallenge;
      try {
        challenge = parseChallenge(value);
      } catch (err) {
        if (err instanceof DigestError) {
          problems.push(err.message);
          continue;
        }
        throw err;
      }
      if (this.#account.realm !== undefined && challenge.realm !== this.#account.realm) {
        problems.push(`realm "${challenge.realm}" is not the account's realm "${this.#account.realm}"`);
        continue;
      }
      if (!chosen.has(challenge.realm)) {
        chosen.set(challenge.realm, challenge);
      }
    }
    if (chosen.size === 0) {
      return {
        kind: 'unsupported',
        reason: problems.length > 0 ? problems.join('; ') : `${status} without a challenge`,
      };
    }

    const anyStale = [...chosen.values()].some((c) => c.stale);
    for (const challenge of chosen.values()) {
      const previous = this.#realms.get(`${header}\n${challenge.realm}`);
      if (previous?.pending === 'fresh' && !challenge.stale) {
        this.#realms.delete(`${header}\n${challenge.realm}`);

        return {
          kind: 'rejected',
          reason: `${status}: credentials of "${this.#account.username}" refused for realm "${challenge.realm}"`,
        };
      }
    }
    if (anyStale) {
      this.#staleInARow++;
      if (this.#staleInARow > this.#maxStale) {
        this.#staleInARow = 0;

        return { kind: 'rejected', reason: `${status}: more than ${this.#maxStale} stale nonces in a row` };
      }
    } else {
      this.#staleInARow = 0;
    }

    const headers: AuthorizationHeader[] = [];
    for (const challenge of chosen.values()) {
      const key = `${header}\n${challenge.realm}`;
      const state: RealmState = { header, challenge, cnonce: this.#cnonce(), nc: 0, pending: 'none' };
      this.#realms.set(key, state);
      headers.push(this.#credentials(state, request));
      state.pending = 'fresh';
    }

    return { kind: 'retry', headers, stale: anyStale };
  }

  /**
   * Credentials for a new request from the challenges seen so far (the nonce count goes up by one
   * per request). Empty before the first challenge.
   */
  authorize(request: AuthorizedRequest): AuthorizationHeader[] {
    const headers: AuthorizationHeader[] = [];
    for (const state of this.#realms.values()) {
      headers.push(this.#credentials(state, request));
      if (state.pending === 'none') {
        state.pending = 'preemptive';
      }
    }

    return headers;
  }

  /** The request that carried credentials got a final response other than 401/407. */
  accepted(): void {
    this.#staleInARow = 0;
    for (const state of this.#realms.values()) {
      state.pending = 'none';
    }
  }

  /** Forgets every challenge (e.g. after the registrar restarted). */
  reset(): void {
    this.#realms.clear();
    this.#staleInARow = 0;
  }

  #credentials(state: RealmState, request: AuthorizedRequest): AuthorizationHeader {
    const { challenge } = state;
    state.nc++;
    const qop: DigestQop | undefined = chooseQop(challenge.qop);
    const nc = formatNc(state.nc);
    const needsCnonce = qop !== undefined || challenge.algorithm.endsWith('-sess');
    const response = computeDigestResponse({
      algorithm: challenge.algorithm,
      username: this.#account.username,
      realm: challenge.realm,
      password: this.#account.password,
      nonce: challenge.nonce,
      method: request.method,
      uri: request.uri,
      ...(qop !== undefined ? { qop, nc } : {}),
      ...(needsCnonce ? { cnonce: state.cnonce } : {}),
      ...(request.body !== undefined ? { body: request.body } : {}),
    });
    const parts = [
      `username=${quote(this.#account.username)}`,
      `realm=${quote(challenge.realm)}`,
      `nonce=${quote(challenge.nonce)}`,
      `uri=${quote(request.uri)}`,
      `response=${quote(response)}`,
    ];
    if (challenge.algorithmGiven || challenge.algorithm !== 'MD5') {
      parts.push(`algorithm=${challenge.algorithm satisfies DigestAlgorithm}`);
    }
    if (needsCnonce) {
      parts.push(`cnonce=${quote(state.cnonce)}`);
    }
    if (challenge.opaque !== undefined) {
      parts.push(`opaque=${quote(challenge.opaque)}`);
    }
    if (qop !== undefined) {
      parts.push(`qop=${qop}`, `nc=${nc}`);
    }

    return { name: state.header, value: `Digest ${parts.join(', ')}` };
  }
}

/** `auth` when offered; `auth-int` only when it is the sole choice. */
function chooseQop(offered: readonly DigestQop[]): DigestQop | undefined {
  if (offered.includes('auth')) {
    return 'auth';
  }

  return offered[0];
}
