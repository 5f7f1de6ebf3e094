/**
 * Errors of the digest authentication module. Each has a stable `code` (listed in sip/README.md,
 * section "Digest authentication"); callers match on `code`, not on the message.
 */
type DigestErrorCode =
  /** A `WWW-Authenticate`/`Proxy-Authenticate` or `Authorization` value could not be parsed. */
  | 'SIP_ERR_AUTH_MALFORMED'
  /** The challenge names an algorithm or qop this implementation does not support. */
  | 'SIP_ERR_AUTH_UNSUPPORTED'
  /** A required digest parameter (realm, nonce, ...) is missing. */
  | 'SIP_ERR_AUTH_MISSING_PARAM';

/** A digest challenge or credentials header that cannot be used. */
export class DigestError extends Error {
  override readonly name = 'DigestError';
  readonly code: DigestErrorCode;

  constructor(code: DigestErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
