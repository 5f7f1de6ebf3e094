import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../lib/clock.js';
import {
  computeDigestResponse,
  hashHex,
  parseAlgorithm,
  type DigestAlgorithm,
  type DigestQop,
} from './digest.js';
import { DigestError } from './errors.js';
import { parseAuthHeader, quote } from './params.js';

/**
 * What the application knows about a user: the password, or the stored
 * HA1 = H(username:realm:password) per base algorithm.
 */
type DigestSecret =
  | { readonly password: string }
  | { readonly ha1: Partial<Record<'MD5' | 'SHA-256' | 'SHA-512-256', string>> };

interface DigestVerifierOptions {
  readonly realm: string;
  /** Challenged algorithms, most preferred first (RFC 8760 §2.4). Default `['SHA-256', 'MD5']`. */
  readonly algorithms?: readonly DigestAlgorithm[];
  /** `auth` (default) or `none` for the RFC 2069 form without qop. */
  readonly qop?: 'auth' | 'none';
  /** How long a nonce is accepted; older ones get `stale=true` (default 300 s). */
  readonly nonceTtlMs?: number;
  /** 401 challenges with `WWW-Authenticate` (default), 407 with `Proxy-Authenticate`. */
  readonly proxy?: boolean;
  readonly clock: Clock;
  /** Key for the nonce MACs; random by default (nonces then die with the process). */
  readonly secret?: Uint8Array;
  /** Looks a user up; undefined for an unknown user. */
  lookup(username: string, realm: string): DigestSecret | undefined | Promise<DigestSecret | undefined>;
}

/** The request whose credentials are checked. */
interface VerifiedRequest {
  readonly method: string;
  /** When given, the credentials' `uri` must equal it (RFC 7616 §3.4.6). */
  readonly uri?: string;
  readonly body?: string | Uint8Array;
}

export type DigestRejection =
  | 'missing'
  | 'malformed'
  | 'wrong-realm'
  | 'unsupported'
  | 'unknown-user'
  | 'bad-nonce'
  | 'stale-nonce'
  | 'nc-replay'
  | 'uri-mismatch'
  | 'bad-response';

/**
 * The verdict. On failure answer 401/407 with {@link DigestVerifier.challenge}, passing `stale`
 * (a stale nonce with a correct response gets `stale=true`, RFC 7616 §3.3), or 403 when preferred
 * for `unknown-user`.
 */
export type DigestVerdict =
  | { readonly ok: true; readonly username: string; readonly algorithm: DigestAlgorithm }
  | {
      readonly ok: false;
      readonly reason: DigestRejection;
      readonly stale: boolean;
      readonly username?: string;
    };

/**
 * Server side of SIP digest authentication, for the application's inbound policy (e.g. challenge
 * INVITEs with 401/407). Stateless nonces: `time.random.MAC(time.random)` under a secret key, with
 * the time from the injected clock; the nonce counts seen are remembered per nonce to refuse
 * replays (nc must increase, RFC 7616 §3.4 and §5.12).
 */
export class DigestVerifier {
  readonly #opts: DigestVerifierOptions;
  readonly #algorithms: readonly DigestAlgorithm[];
  readonly #ttl: number;
  readonly #secret: Uint8Array;
  readonly #opaque: string;
  /** nonce → highest nc accepted, with the nonce's issue time for pruning. */
  readonly #counts = new Map<string, { issued: number; nc: number }>();

  constructor(options: DigestVerifierOptions) {
    this.#opts = options;
    this.#algorithms = options.algorithms ?? ['SHA-256', 'MD5'];
    this.#ttl = options.nonceTtlMs ?? 300_000;
    this.#secret = options.secret ?? randomBytes(32);
    this.#opaque = randomBytes(8).toString('hex');
  }

  /** The header name of the challenge (`WWW-Authenticate` or `Proxy-Authenticate`). */
  get challengeHeader(): 'WWW-Authenticate' | 'Proxy-Authenticate' {
    return this.#opts.proxy === true ? 'Proxy-Authenticate' : 'WWW-Authenticate';
  }

  /** The status to answer with: 401, or 407 for a proxy. */
  get challengeStatus(): 401 | 407 {
    return this.#opts.proxy === true ? 407 : 401;
  }

  /** Challenge values, one per algorithm, most preferred first, all with one fresh nonce. */
  challenge(options: { stale?: boolean } = {}): string[] {
    this.#prune();
    const nonce = this.#newNonce();

    return this.#algorithms.map((algorithm) =>
      [
        `Digest realm=${quote(this.#opts.realm)}`,
        `nonce=${quote(nonce)}`,
        `opaque=${quote(this.#opaque)}`,
        `algorithm=${algorithm}`,
        ...(this.#opts.qop === 'none' ? [] : ['qop="auth"']),
        ...(options.stale === true ? ['stale=true'] : []),
      ].join(', '),
    );
  }

  /** Checks the `Authorization` (or `Proxy-Authorization`) values of `request`. */
  async verify(credentialValues: readonly string[], request: VerifiedRequest): Promise<DigestVerdict> {
    if (credentialValues.length === 0) {
      return { ok: false, reason: 'missing', stale: false };
    }
    let params: ReadonlyMap<string, string> | undefined;
    let wrongRealm = false;
    for (const value of credentialValues) {
      let parsed;
      try {
        parsed = parseAuthHeader(value);
      } catch (err) {
        if (err instanceof DigestError) {
          return { ok: false, reason: 'malformed', stale: false };
        }
        throw err;
      }
      if (parsed.scheme.toLowerCase() !== 'digest') {
        continue;
      }
      if (parsed.params.get('realm') !== this.#opts.realm) {
        wrongRealm = true;
        continue;
      }
      params = parsed.params;
      break;
    }
    if (params === undefined) {
      return { ok: false, reason: wrongRealm ? 'wrong-realm' : 'missing', stale: false };
    }

    const username = params.get('username');
    const nonce = params.get('nonce');
    const uri = params.get('uri');
    const response = params.get('response');
    if (username === undefined || nonce === undefined || uri === undefined || response === undefined) {
      return { ok: false, reason: 'malformed', stale: false };
    }
    const algorithm = parseAlgorithm(params.get('algorithm'));
    if (algorithm === undefined || !this.#algorithms.includes(algorithm)) {
      return { ok: false, reason: 'unsupported', stale: false, username };
    }
    const rawQop = params.get('qop');
    const qop: DigestQop | undefined = rawQop === undefined ? undefined : (rawQop.toLowerCase() as DigestQop);
    const nc = params.get('nc');
    const cnonce = params.get('cnonce');
    if (this.#opts.qop !== 'none') {
      if (qop !== 'auth' || nc === undefined || !/^[0-9a-fA-F]{8}$/.test(nc) || cnonce === undefined) {
        return { ok: false, reason: 'malformed', stale: false, username };
      }
    } else if (qop !== undefined) {
      return { ok: false, reason: 'malformed', stale: false, username };
    }
    if (request.uri !== undefined && uri !== request.uri) {
      return { ok: false, reason: 'uri-mismatch', stale: false, username };
    }
    const issued = this.#checkNonce(nonce);
    if (issued === undefined) {
      return { ok: false, reason: 'bad-nonce', stale: false, username };
    }

    const secret = await this.#opts.lookup(username, this.#opts.realm);
    if (secret === undefined) {
      return { ok: false, reason: 'unknown-user', stale: false, username };
    }
    const base = algorithm.replace(/-sess$/, '') as 'MD5' | 'SHA-256' | 'SHA-512-256';
    const ha1 = 'password' in secret ? undefined : secret.ha1[base];
    if (!('password' in secret) && ha1 === undefined) {
      return { ok: false, reason: 'unsupported', stale: false, username };
    }
    const expected = computeDigestResponse({
      algorithm,
      username,
      realm: this.#opts.realm,
      ...('password' in secret ? { password: secret.password } : { ha1 }),
      nonce,
      method: request.method,
      uri,
      ...(qop !== undefined && nc !== undefined ? { qop, nc } : {}),
      ...(cnonce !== undefined ? { cnonce } : {}),
      ...(request.body !== undefined ? { body: request.body } : {}),
    });
    const a = Buffer.from(expected, 'utf8');
    const b = Buffer.from(response.toLowerCase(), 'utf8');
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      return { ok: false, reason: 'bad-response', stale: false, username };
    }
    // Right password: only now may the nonce's age or count be reported as stale.
    const age = this.#opts.clock.now() - issued;
    // NOTE: a nonce "from the future" comes from before a restart (monotonic clocks restart at 0).
    if (age > this.#ttl || age < 0) {
      return { ok: false, reason: 'stale-nonce', stale: true, username };
    }
    if (nc !== undefined) {
      const count = parseInt(nc, 16);
      const seen = this.#counts.get(nonce);
      if (seen !== undefined && count <= seen.nc) {
        return { ok: false, reason: 'nc-replay', stale: false, username };
      }
      this.#counts.set(nonce, { issued, nc: count });
    }

    return { ok: true, username, algorithm };
  }

  #newNonce(): string {
    const time = Math.floor(this.#opts.clock.now()).toString(36);
    const rand = randomBytes(9).toString('base64url');

    return `${time}.${rand}.${this.#mac(`${time}.${rand}`)}`;
  }

  #mac(text: string): string {
    return createHmac('sha256', this.#secret).update(text).digest('base64url').slice(0, 22);
  }

  /** The nonce's issue time when it is one of ours, else undefined. */
  #checkNonce(nonce: string): number | undefined {
    const parts = nonce.split('.');
    if (parts.length !== 3) {
      return undefined;
    }
    const [time, rand, mac] = parts as [string, string, string];
    const expected = Buffer.from(this.#mac(`${time}.${rand}`));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      return undefined;
    }
    const issued = parseInt(time, 36);

    return Number.isFinite(issued) ? issued : undefined;
  }

  #prune(): void {
    const now = this.#opts.clock.now();
    for (const [nonce, entry] of this.#counts) {
      if (now - entry.issued > this.#ttl) {
        this.#counts.delete(nonce);
      }
    }
  }
}

/** HA1 = H(username:realm:password) for storing instead of the password (RFC 7616 §3.4.2). */
export function digestHa1(
  algorithm: 'MD5' | 'SHA-256' | 'SHA-512-256',
  username: string,
  realm: string,
  password: string,
): string {
  return hashHex(algorithm, `${username}:${realm}:${password}`);
}
