/**
 * Transport-level types: a Flow is "where a message came from / goes to" (RFC 3261 §18, RFC 5626
 * flows): for UDP the local socket plus a remote address, for TCP/TLS one connection.
 */

export type TransportProtocol = 'udp' | 'tcp' | 'tls';

export interface HostPort {
  readonly address: string;
  readonly port: number;
}

export interface Flow {
  readonly protocol: TransportProtocol;
  readonly local: HostPort;
  readonly remote: HostPort;
  /** TCP and TLS are reliable: no retransmissions (RFC 3261 §17). */
  readonly reliable: boolean;
  /** True once a connection has closed (always false for UDP). */
  readonly closed: boolean;
  /** Writes bytes; never throws (failures are logged and counted). */
  send(data: Buffer): void;
}

/** The datagram socket the UDP transport needs (a `dgram.Socket` adapter or an in-memory fake). */
export interface DatagramSocket {
  send(data: Buffer, port: number, address: string): void;
  onMessage(cb: (data: Buffer, from: HostPort) => void): void;
  address(): HostPort;
  close(): Promise<void>;
}

/** Where to send a request: a transport, a host (name or IP) and a port. */
export interface Target {
  readonly protocol: TransportProtocol;
  readonly host: string;
  readonly port: number;
  /** TLS server name to verify (defaults to `host`). */
  readonly serverName?: string;
}

export function defaultPort(protocol: TransportProtocol): number {
  return protocol === 'tls' ? 5061 : 5060;
}
