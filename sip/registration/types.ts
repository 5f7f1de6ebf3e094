/**
 * What the registration client needs from the layers below, declared where it is consumed (P4):
 * one out-of-dialog non-INVITE client transaction per REGISTER, the local contact address of a
 * flow, and for TCP/TLS the flow itself (CRLF keep-alives, closure). An adapter maps SIP-core's
 * transaction/transport API onto it; unit tests use an in-memory fake.
 */

import type { TransportProtocol } from '../transport/types.js';

/** A REGISTER to send, as data. The sender adds Via (with `;rport`), Max-Forwards and Content-Length. */
export interface OutgoingRegister {
  /** Request-URI: the registrar (RFC 3261 §10.2). */
  readonly uri: string;
  /** Where to send it: the outbound proxy, or the registrar itself. */
  readonly target: string;
  readonly transport: TransportProtocol;
  /** Header fields in order, e.g. `['From', '<sip:alice@example.org>;tag=…']`. */
  readonly headers: readonly (readonly [name: string, value: string])[];
}

/** The final response to a REGISTER. */
export interface RegisterResponse {
  readonly status: number;
  readonly reason: string;
  /** First value of a header (case-insensitive name, compact forms allowed); `SipResponse` fits. */
  get(name: string): string | undefined;
  /** Every value of a header, list headers (Contact) split at top-level commas. */
  getAll(name: string): readonly string[];
}

/** The address a Contact must carry so that requests reach us. */
export interface LocalContact {
  readonly host: string;
  readonly port: number;
  readonly transport: TransportProtocol;
}

/**
 * The sending side, implemented over SIP-core's transaction layer.
 *
 * `sendRegister` resolves with the final response of a non-INVITE client transaction, and rejects
 * with an error whose `code` is `SIP_ERR_TX_TIMEOUT` (Timer F, treated as 408) or
 * `SIP_ERR_TRANSPORT` (connect refused, TLS failure…, treated as 503, RFC 3261 §8.1.3.1).
 */
export interface RegistrationTransport {
  sendRegister(request: OutgoingRegister): Promise<RegisterResponse>;
  /** The host/port/transport to advertise in Contact for requests sent to `target`. */
  localContact(target: string, transport: TransportProtocol): LocalContact | Promise<LocalContact>;
  /**
   * TCP/TLS only: writes a CRLF keep-alive (`\r\n\r\n`, RFC 5626 §4.4.1) on the connection to
   * `target`, keeping it open for calls the registrar sends back over it. Rejects when the
   * connection is gone.
   */
  keepAlive?(target: string, transport: TransportProtocol): Promise<void>;
  /** TCP/TLS only: calls `listener` once when the connection to `target` closes. Returns an unsubscriber. */
  onFlowClosed?(target: string, transport: TransportProtocol, listener: () => void): () => void;
}
