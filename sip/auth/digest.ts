import { createHash } from 'node:crypto';
import { DigestError } from './errors.js';

/**
 * Digest algorithms for SIP: MD5 (RFC 3261 §22.4 / RFC 2617), SHA-256 and SHA-512-256
 * (RFC 8760 §2.2, RFC 7616 §3.2), each with its `-sess` form (RFC 7616 §3.4.2).
 */
const DIGEST_ALGORITHMS = [
  'MD5',
  'MD5-sess',
  'SHA-256',
  'SHA-256-sess',
  'SHA-512-256',
  'SHA-512-256-sess',
] as const;

export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];

/** `auth` (RFC 7616 §3.4.3) or `auth-int` (the body is hashed into A2). */
export type DigestQop = 'auth' | 'auth-int';

const NODE_HASH: Record<string, string> = {
  MD5: 'md5',
  'SHA-256': 'sha256',
  'SHA-512-256': 'sha512-256',
};

/**
 * Normalises an `algorithm` parameter (case-insensitive, RFC 7616 §3.3) to one of
 * {@link DIGEST_ALGORITHMS}; a missing parameter means MD5 (RFC 2617 §3.2.1).
 *
 * @returns the algorithm, or undefined when it is not supported.
 */
export function parseAlgorithm(value: string | undefined): DigestAlgorithm | undefined {
  if (value === undefined) {
    return 'MD5';
  }
  const upper = value.toUpperCase();

  return DIGEST_ALGORITHMS.find((a) => a.toUpperCase() === upper);
}

/** Hex digest of `data` (UTF-8) with the hash function underlying `algorithm`. */
export function hashHex(algorithm: DigestAlgorithm, data: string | Uint8Array): string {
  const base = algorithm.endsWith('-sess') ? algorithm.slice(0, -'-sess'.length) : algorithm;
  const name = NODE_HASH[base];
  if (name === undefined) {
    throw new DigestError('SIP_ERR_AUTH_UNSUPPORTED', `unsupported digest algorithm "${algorithm}"`);
  }

  return createHash(name).update(data).digest('hex');
}

/** The inputs of one digest computation (RFC 7616 §3.4.1). */
interface DigestInputs {
  readonly algorithm: DigestAlgorithm;
  readonly username: string;
  readonly realm: string;
  /** The password; or give `ha1` (H(username:realm:password), as stored by a server) instead. */
  readonly password?: string;
  readonly ha1?: string;
  readonly nonce: string;
  readonly method: string;
  /** The `uri` parameter: the Request-URI as sent (RFC 3261 §22.4). */
  readonly uri: string;
  /** Absent for the RFC 2069 compatibility form (no qop in the challenge). */
  readonly qop?: DigestQop;
  /** 8 hex digits, e.g. `00000001`; required with qop. */
  readonly nc?: string;
  /** Required with qop and with the -sess algorithms. */
  readonly cnonce?: string;
  /** The message body, hashed into A2 for `auth-int` (empty when absent). */
  readonly body?: string | Uint8Array;
}

/**
 * H(A1) for the given inputs: `H(username:realm:password)`, and for the -sess algorithms
 * `H(H(username:realm:password):nonce:cnonce)` (RFC 7616 §3.4.2).
 *
 * @throws DigestError `SIP_ERR_AUTH_MISSING_PARAM` when neither password nor ha1 is given, or the
 * cnonce is missing for a -sess algorithm.
 */
function computeHa1(inputs: DigestInputs): string {
  const { algorithm } = inputs;
  let ha1: string;
  if (inputs.ha1 !== undefined) {
    ha1 = inputs.ha1;
  } else if (inputs.password !== undefined) {
    ha1 = hashHex(algorithm, `${inputs.username}:${inputs.realm}:${inputs.password}`);
  } else {
    throw new DigestError('SIP_ERR_AUTH_MISSING_PARAM', 'digest needs a password or an HA1');
  }
  if (algorithm.endsWith('-sess')) {
    if (inputs.cnonce === undefined) {
      throw new DigestError('SIP_ERR_AUTH_MISSING_PARAM', `${algorithm} needs a cnonce`);
    }
    ha1 = hashHex(algorithm, `${ha1}:${inputs.nonce}:${inputs.cnonce}`);
  }

  return ha1;
}

/**
 * The `response` parameter (RFC 7616 §3.4.1):
 * with qop: `KD(H(A1), nonce:nc:cnonce:qop:H(A2))`; without: `KD(H(A1), nonce:H(A2))`, where
 * `A2 = method:uri` for `auth` and `method:uri:H(body)` for `auth-int` (§3.4.3).
 *
 * @throws DigestError `SIP_ERR_AUTH_MISSING_PARAM` when nc or cnonce are missing with a qop.
 */
export function computeDigestResponse(inputs: DigestInputs): string {
  const { algorithm } = inputs;
  const ha1 = computeHa1(inputs);
  const a2 =
    inputs.qop === 'auth-int'
      ? `${inputs.method}:${inputs.uri}:${hashHex(algorithm, inputs.body ?? '')}`
      : `${inputs.method}:${inputs.uri}`;
  const ha2 = hashHex(algorithm, a2);
  if (inputs.qop === undefined) {
    return hashHex(algorithm, `${ha1}:${inputs.nonce}:${ha2}`);
  }
  if (inputs.nc === undefined || inputs.cnonce === undefined) {
    throw new DigestError('SIP_ERR_AUTH_MISSING_PARAM', `qop=${inputs.qop} needs nc and cnonce`);
  }

  return hashHex(algorithm, `${ha1}:${inputs.nonce}:${inputs.nc}:${inputs.cnonce}:${inputs.qop}:${ha2}`);
}

/** Formats a nonce count as the 8 hex digits of RFC 7616 §3.4 (`1` → `00000001`). */
export function formatNc(count: number): string {
  return (count >>> 0).toString(16).padStart(8, '0');
}
