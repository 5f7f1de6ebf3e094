/**
 * Inbound digest authentication (`sip.inbound.auth`): the configured users, sip/auth's
 * DigestVerifier, and what to answer. An INVITE without credentials (or with a nonce we no longer
 * know, or for another realm) is challenged with 401; one whose credentials are right is let
 * through to admission; one whose credentials are wrong (unknown user, wrong password, replayed
 * nonce count, malformed) gets 403, is counted (`auth-failed`) and leaves no call record. A stale
 * nonce with the right password gets a new challenge with `stale=true` (RFC 7616 §3.3).
 */
import type { Clock } from '../../lib/clock.js';
import { DigestVerifier, type DigestRejection, type SipRequest } from '../../sip/index.js';
import type { Config } from '../config.js';

type AuthConfig = NonNullable<Config['sip']['inbound']['auth']>;

export type AuthDecision =
  | { readonly action: 'accept'; readonly username: string }
  | { readonly action: 'challenge'; readonly stale: boolean; readonly reason: DigestRejection }
  | { readonly action: 'forbid'; readonly reason: DigestRejection; readonly username: string | undefined };

/** Rejections that mean "no usable credentials yet": answered with a (new) challenge. */
const CHALLENGE_AGAIN: ReadonlySet<DigestRejection> = new Set(['missing', 'wrong-realm', 'bad-nonce']);

export class InboundAuth {
  readonly #verifier: DigestVerifier;
  readonly #methods: ReadonlySet<string>;

  /** @param clock the nonces' clock (their age is checked against it) */
  constructor(config: AuthConfig, clock: Clock) {
    const users = new Map(config.users.map((u) => [u.username, u.password]));
    this.#methods = new Set(config.methods);
    this.#verifier = new DigestVerifier({
      realm: config.realm,
      algorithms: config.algorithms,
      clock,
      lookup: (username) => {
        const password = users.get(username);
        return password === undefined ? undefined : { password };
      },
    });
  }

  /** Whether requests with this method must carry credentials. */
  challenges(method: string): boolean {
    return this.#methods.has(method);
  }

  /** Checks the request's `Authorization` values. */
  async check(req: SipRequest): Promise<AuthDecision> {
    const v = await this.#verifier.verify(req.getAll('Authorization'), { method: req.method, uri: req.uri });
    if (v.ok) {
      return { action: 'accept', username: v.username };
    }
    if (v.stale || CHALLENGE_AGAIN.has(v.reason)) {
      return { action: 'challenge', stale: v.stale, reason: v.reason };
    }
    return { action: 'forbid', reason: v.reason, username: v.username };
  }

  /** The `WWW-Authenticate` values of a challenge (one per algorithm, a fresh nonce). */
  challenge(stale: boolean): string[] {
    return this.#verifier.challenge({ stale });
  }
}
