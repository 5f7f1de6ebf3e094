/**
 * Typed errors of the media layer. Every error carries a stable `code` (listed in rtp/README.md);
 * callers match on `err.code`, never on the message.
 */

/** Codes of {@link RtpParseError}: why a datagram is not a valid RTP or RTCP packet. */
type RtpParseErrorCode =
  | 'RTP_ERR_TRUNCATED'
  | 'RTP_ERR_VERSION'
  | 'RTP_ERR_PADDING'
  | 'RTP_ERR_EXTENSION'
  | 'RTP_ERR_CSRC'
  | 'RTCP_ERR_TRUNCATED'
  | 'RTCP_ERR_VERSION'
  | 'RTCP_ERR_LENGTH'
  | 'RTCP_ERR_PADDING'
  | 'RTCP_ERR_FIRST_PACKET';

/** Base class of every error thrown by rtp/. */
export class RtpError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RtpError';
    this.code = code;
  }
}

/** A datagram that is not a well-formed RTP/RTCP packet (RFC 3550 §5.1, §6.4, A.1, A.2). */
export class RtpParseError extends RtpError {
  declare readonly code: RtpParseErrorCode;
  constructor(code: RtpParseErrorCode, message: string) {
    super(code, message);
    this.name = 'RtpParseError';
  }
}

/** No even/odd port pair in the configured range could be bound. */
export class RtpPortsExhaustedError extends RtpError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RTP_ERR_NO_PORTS', message, options);
    this.name = 'RtpPortsExhaustedError';
  }
}

/** A session method was called in a state that does not allow it (e.g. `start()` after `close()`). */
export class RtpSessionStateError extends RtpError {
  constructor(message: string) {
    super('RTP_ERR_SESSION_STATE', message);
    this.name = 'RtpSessionStateError';
  }
}

/** An option or remote description was invalid (e.g. unsupported codec, bad port range). */
export class RtpConfigError extends RtpError {
  constructor(message: string) {
    super('RTP_ERR_CONFIG', message);
    this.name = 'RtpConfigError';
  }
}

/** Codes of {@link SrtpError}: why an SRTP/SRTCP packet was dropped (RFC 3711 §3.3, §3.4). */
type SrtpErrorCode =
  'SRTP_ERR_TRUNCATED' | 'SRTP_ERR_AUTH' | 'SRTP_ERR_REPLAY' | 'SRTP_ERR_MALFORMED' | 'SRTP_ERR_KEY_EXPIRED';

/**
 * An SRTP/SRTCP packet that was dropped: too short for its tag, failed authentication, replayed or
 * too old for the replay window, authentic but with an impossible header length, or beyond its
 * master key's lifetime (RFC 3711 §9.2).
 */
export class SrtpError extends RtpError {
  declare readonly code: SrtpErrorCode;
  constructor(code: SrtpErrorCode, message: string) {
    super(code, message);
    this.name = 'SrtpError';
  }
}
