/**
 * Typed errors of the SIP layer. Every error carries a stable `code` (listed in sip/README.md);
 * network code matches on `err.code`, never on the message text.
 */
class SipError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SipError';
    this.code = code;
  }
}

/** Codes of {@link SipParseError}. */
type SipParseErrorCode =
  | 'SIP_ERR_EMPTY'
  | 'SIP_ERR_TOO_LARGE'
  | 'SIP_ERR_NO_HEADER_END'
  | 'SIP_ERR_BAD_START_LINE'
  | 'SIP_ERR_BAD_VERSION'
  | 'SIP_ERR_BAD_HEADER'
  | 'SIP_ERR_TOO_MANY_HEADERS'
  | 'SIP_ERR_TOO_MANY_VALUES'
  | 'SIP_ERR_BAD_CONTENT_LENGTH'
  | 'SIP_ERR_TRUNCATED_BODY'
  | 'SIP_ERR_BAD_URI'
  | 'SIP_ERR_BAD_STATUS';

/**
 * A message that cannot be parsed. When the start line says it is a request and the header
 * section could be split, `headers` holds the raw header fields so that a `400` (or `505`) can
 * still be built from Via/From/To/Call-ID/CSeq (RFC 3261 §8.2, RFC 4475 §3.1.2).
 */
export class SipParseError extends SipError {
  /** True when the start line looked like a request (so an answer is possible). */
  readonly isRequest: boolean;
  readonly headers: readonly { name: string; value: string }[] | undefined;
  /** Status the UAS should answer with (400 unless stated). */
  readonly status: number;
  constructor(
    code: SipParseErrorCode,
    message: string,
    extra: {
      isRequest?: boolean;
      headers?: readonly { name: string; value: string }[];
      status?: number;
    } = {},
  ) {
    super(code, message);
    this.name = 'SipParseError';
    this.isRequest = extra.isRequest ?? false;
    this.headers = extra.headers;
    this.status = extra.status ?? 400;
  }
}

/** A client transaction ended without a final response (Timer B or F, RFC 3261 §17.1). */
export class SipTransactionTimeoutError extends SipError {
  constructor(message: string) {
    super('SIP_ERR_TX_TIMEOUT', message);
    this.name = 'SipTransactionTimeoutError';
  }
}

/** A message could not be sent (connect refused, TLS failure, no transport; RFC 3261 §8.1.3.1). */
export class SipTransportError extends SipError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SIP_ERR_TRANSPORT', message, options);
    this.name = 'SipTransportError';
  }
}

/** An operation was called in a state where it is not allowed (e.g. `answer()` after `reject()`). */
export class SipStateError extends SipError {
  constructor(message: string) {
    super('SIP_ERR_STATE', message);
    this.name = 'SipStateError';
  }
}

/** An SDP body could not be parsed or negotiated. */
export class SdpError extends SipError {
  constructor(
    code: 'SDP_ERR_PARSE' | 'SDP_ERR_BAD_VALUE' | 'SDP_ERR_NO_CODEC' | 'SDP_ERR_NO_AUDIO' | 'SDP_ERR_SRTP',
    message: string,
  ) {
    super(code, message);
    this.name = 'SdpError';
  }
}

/** Codes of {@link SipBodyError}. */
type SipBodyErrorCode = 'SIP_ERR_MULTIPART';

/**
 * A message body that cannot be read: a malformed RFC 2046 `multipart/mixed` body (no or a bad
 * boundary, a missing delimiter, a malformed part header, too many parts). Answered `400` with
 * the message as the Warning text.
 */
export class SipBodyError extends SipError {
  constructor(code: SipBodyErrorCode, message: string) {
    super(code, message);
    this.name = 'SipBodyError';
  }
}

/** A call that was not answered: the final status (or 408 on timeout, 503 on transport failure). */
export class CallRejectedError extends SipError {
  readonly status: number;
  constructor(status: number, reason: string) {
    super('SIP_ERR_CALL_REJECTED', `call rejected: ${status} ${reason}`);
    this.name = 'CallRejectedError';
    this.status = status;
  }
}
