import { parseAlgorithm, type DigestAlgorithm, type DigestQop } from './digest.js';
import { DigestError } from './errors.js';
import { parseAuthHeader } from './params.js';

/**
 * A parsed Digest challenge from a `WWW-Authenticate` (401) or `Proxy-Authenticate` (407) value.
 *
 * @see RFC 3261 §22.1, RFC 7616 §3.3, RFC 8760 §2
 */
export interface DigestChallenge {
  readonly realm: string;
  readonly nonce: string;
  readonly algorithm: DigestAlgorithm;
  /** Whether the challenge named its algorithm (then the answer names it too). */
  readonly algorithmGiven: boolean;
  /** The qop values offered, in order (empty: RFC 2069 compatibility, no qop). */
  readonly qop: readonly DigestQop[];
  readonly opaque?: string;
  /** `stale=true`: the previous credentials were right but the nonce expired (RFC 7616 §3.3). */
  readonly stale: boolean;
}

/**
 * Parses one challenge value.
 *
 * @throws DigestError `SIP_ERR_AUTH_MALFORMED` for bad syntax or a non-Digest scheme,
 * `SIP_ERR_AUTH_MISSING_PARAM` without realm or nonce, `SIP_ERR_AUTH_UNSUPPORTED` for an unknown
 * algorithm or when the only qop offered is unknown.
 */
export function parseChallenge(value: string): DigestChallenge {
  const { scheme, params } = parseAuthHeader(value);
  if (scheme.toLowerCase() !== 'digest') {
    throw new DigestError('SIP_ERR_AUTH_UNSUPPORTED', `unsupported auth scheme "${scheme}"`);
  }
  const realm = params.get('realm');
  const nonce = params.get('nonce');
  if (realm === undefined || nonce === undefined) {
    throw new DigestError('SIP_ERR_AUTH_MISSING_PARAM', `challenge without realm or nonce: ${value}`);
  }
  const rawAlgorithm = params.get('algorithm');
  const algorithm = parseAlgorithm(rawAlgorithm);
  if (algorithm === undefined) {
    throw new DigestError('SIP_ERR_AUTH_UNSUPPORTED', `unsupported digest algorithm "${rawAlgorithm}"`);
  }
  const rawQop = params.get('qop');
  let qop: DigestQop[] = [];
  if (rawQop !== undefined) {
    const offered = rawQop.split(',').map((q) => q.trim().toLowerCase());
    qop = offered.filter((q): q is DigestQop => q === 'auth' || q === 'auth-int');
    if (qop.length === 0) {
      throw new DigestError('SIP_ERR_AUTH_UNSUPPORTED', `unsupported qop "${rawQop}"`);
    }
  }
  const opaque = params.get('opaque');

  return {
    realm,
    nonce,
    algorithm,
    algorithmGiven: rawAlgorithm !== undefined,
    qop,
    ...(opaque !== undefined ? { opaque } : {}),
    stale: (params.get('stale') ?? '').toLowerCase() === 'true',
  };
}
