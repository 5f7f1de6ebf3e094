/**
 * The open TCP/TLS connections of the transport layer, inbound and outbound (RFC 3261 §18.1.1,
 * §18.2.2): found by protocol, address and port so that requests and responses reuse them in
 * both directions, one connect attempt shared by concurrent senders, and forgotten when closed.
 */
import type { Duplex } from 'node:stream';
import type { Clock } from '../../lib/clock.js';
import type { SipCounters } from '../counters.js';
import { SipTransportError, type SipParseError } from '../errors.js';
import { connectStream, type TlsClientOptions } from './connect.js';
import { StreamConnection } from './StreamConnection.js';
import type { HostPort, Target, TransportProtocol } from './types.js';

interface ConnectionPoolOptions {
  clock: Clock;
  counters: SipCounters;
  tls: TlsClientOptions;
  maxMessageSize: number;
  idleTimeoutMs: number;
  tlsHandshakeTimeoutMs: number;
  /** A framed message from a connection. */
  readonly onMessage: (data: Buffer, conn: StreamConnection) => void;
  readonly onFramingError: (conn: StreamConnection, err: SipParseError, head: Buffer | undefined) => void;
}

function connKey(protocol: TransportProtocol, address: string, port: number): string {
  return `${protocol}|${address.toLowerCase()}|${port}`;
}

export class ConnectionPool {
  readonly #opts: ConnectionPoolOptions;
  readonly #connections = new Map<string, StreamConnection>();
  readonly #pending = new Map<string, Promise<StreamConnection>>();
  readonly #all = new Set<StreamConnection>();

  constructor(opts: ConnectionPoolOptions) {
    this.#opts = opts;
  }

  /** Number of open connections. */
  get size(): number {
    return this.#all.size;
  }

  /** Adds a connected stream (accepted, connected, or an in-memory duplex in tests). */
  attach(socket: Duplex, protocol: TransportProtocol, local: HostPort, remote: HostPort): StreamConnection {
    const conn = new StreamConnection(socket, protocol, local, remote, {
      maxMessageSize: this.#opts.maxMessageSize,
      idleTimeoutMs: this.#opts.idleTimeoutMs,
      clock: this.#opts.clock,
      onMessage: this.#opts.onMessage,
      onFramingError: this.#opts.onFramingError,
      onClose: (c) => {
        this.#all.delete(c);
        const key = connKey(c.protocol, c.remote.address, c.remote.port);
        if (this.#connections.get(key) === c) {
          this.#connections.delete(key);
        }
      },
      onSent: () => {
        this.#opts.counters.messagesSent++;
      },
    });
    this.#all.add(conn);
    this.#connections.set(connKey(protocol, remote.address, remote.port), conn);
    return conn;
  }

  /** The open connection to a target, if any. */
  get(target: Target): StreamConnection | undefined {
    const c = this.#connections.get(connKey(target.protocol, target.host, target.port));
    return c && !c.closed ? c : undefined;
  }

  /**
   * The open connection to a TCP/TLS target, or a new one (RFC 3261 §18.1.1).
   * @throws {SipTransportError} when the connection fails
   */
  async connection(target: Target): Promise<StreamConnection> {
    const key = connKey(target.protocol, target.host, target.port);
    const existing = this.#connections.get(key);
    if (existing && !existing.closed) {
      return existing;
    }
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#connect(target).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return await pending;
  }

  /** Closes every connection. */
  closeAll(): void {
    for (const c of [...this.#all]) {
      c.close();
    }
  }

  async #connect(target: Target): Promise<StreamConnection> {
    let sock;
    try {
      sock = await connectStream(target, this.#opts.tls, this.#opts.clock, this.#opts.tlsHandshakeTimeoutMs);
    } catch (err) {
      this.#opts.counters.transportErrors++;
      throw new SipTransportError(
        `${target.protocol} connect to ${target.host}:${target.port} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
    sock.setNoDelay(true);
    const remote = { address: sock.remoteAddress ?? target.host, port: sock.remotePort ?? target.port };
    const local = { address: sock.localAddress ?? '', port: sock.localPort ?? 0 };
    const conn = this.attach(sock, target.protocol, local, remote);
    // Also findable under the name it was asked for (a host name, or an unnormalised IPv6 text).
    const key = connKey(target.protocol, target.host, target.port);
    this.#connections.set(key, conn);
    conn.onClose(() => {
      if (this.#connections.get(key) === conn) {
        this.#connections.delete(key);
      }
    });
    return conn;
  }
}
