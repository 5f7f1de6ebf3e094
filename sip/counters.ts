/**
 * Counters of bad input and transport events, for /metrics. Every dropped or rejected message
 * increments exactly one of the `*Dropped`/`*Rejected` counters.
 */
export interface SipCounters {
  /** Messages received (any transport), before parsing. */
  messagesReceived: number;
  /** Messages sent (first transmissions and retransmissions). */
  messagesSent: number;
  /** Undecodable input dropped without an answer (garbage datagrams, bad responses, no headers). */
  malformedDropped: number;
  /** Malformed requests answered with 400/505/513. */
  malformedRejected: number;
  /** Messages over the maximum size (answered with 513 when possible, else dropped). */
  oversize: number;
  /** Stream connections closed because of a framing error or oversize message. */
  streamFramingErrors: number;
  /** TLS handshakes that failed or timed out. */
  tlsHandshakeErrors: number;
  /** Connections refused because the connection limit was reached. */
  connectionsRejected: number;
  /** Responses that matched no client transaction (and were not a 2xx retransmission). */
  strayResponses: number;
  /** Request retransmissions absorbed by a server transaction. */
  retransmissionsAbsorbed: number;
  /** Retransmissions sent by our transactions / 2xx retransmission timer. */
  retransmissionsSent: number;
  /** Client transactions that timed out (Timer B/F). */
  transactionTimeouts: number;
  /** Send failures (connect refused, TLS failure, socket error). */
  transportErrors: number;
  /** New out-of-dialog requests the delegate's `screen` dropped without an answer. */
  screenedOut: number;
}

export function newCounters(): SipCounters {
  return {
    messagesReceived: 0,
    messagesSent: 0,
    malformedDropped: 0,
    malformedRejected: 0,
    oversize: 0,
    streamFramingErrors: 0,
    tlsHandshakeErrors: 0,
    connectionsRejected: 0,
    strayResponses: 0,
    retransmissionsAbsorbed: 0,
    retransmissionsSent: 0,
    transactionTimeouts: 0,
    transportErrors: 0,
    screenedOut: 0,
  };
}
