/**
 * The transport layer (RFC 3261 §18): listens on UDP/TCP/TLS (IPv4 and IPv6), chooses the flow
 * for a request (§18.1.1), routes responses (§18.2.2, RFC 3581) and names our sent-by/Contact.
 * What arrives is parsed and checked in `receive.ts` (bad input answered or dropped, counted,
 * never thrown; `received`/`rport` stamped, §18.2.1); TCP/TLS connections are kept for reuse in
 * both directions in `ConnectionPool.ts` (§18, RFC 5626-lite keep-alives).
 */
import { readFileSync } from 'node:fs';
import { createServer as createNetServer, isIP, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Clock } from '../../lib/clock.js';
import type { SipCounters } from '../counters.js';
import { SipTransportError } from '../errors.js';
import type { Logger } from '../../lib/logger.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../message/parser.js';
import { serialize, type SipMessage, type SipResponse } from '../message/SipMessage.js';
import type { TlsClientOptions } from './connect.js';
import { ConnectionPool } from './ConnectionPool.js';
import { Receiver, type TransportDelegate } from './receive.js';
import type { StreamConnection } from './StreamConnection.js';
import { bindUdp, nodeDatagramSocket, UdpFlow, UdpTransport } from './UdpTransport.js';
import {
  defaultPort,
  type DatagramSocket,
  type Flow,
  type HostPort,
  type Target,
  type TransportProtocol,
} from './types.js';

/** One listening socket. `port: 0` binds an ephemeral port (see {@link TransportLayer.listening}). */
export interface ListenEntry {
  transport: TransportProtocol;
  host: string;
  port: number;
  /** TLS server certificate and key (PEM files), read at start when `credentials` is absent. */
  certFile?: string;
  keyFile?: string;
  /** TLS server certificate (chain) and key, PEM, already read by the caller (wins over the files). */
  credentials?: TlsServerCredentials;
}

/** A TLS listener's certificate (chain) and private key, PEM. */
interface TlsServerCredentials {
  readonly cert: Buffer | string;
  readonly key: Buffer | string;
}

/** TLS versions below this are refused (given again on every certificate change: Node resets it). */
const TLS_SERVER_OPTIONS = { minVersion: 'TLSv1.2' } as const;

export type { TlsClientOptions };

interface TransportLayerOptions {
  listen: readonly ListenEntry[];
  clock: Clock;
  logger: Logger;
  counters: SipCounters;
  tls?: TlsClientOptions;
  maxMessageSize?: number;
  /** Close TCP/TLS connections idle this long (default 10 min; registrations send keep-alives). */
  idleTimeoutMs?: number;
  /** Abort TLS handshakes not finished in this time (default 10 s). */
  tlsHandshakeTimeoutMs?: number;
  /** Maximum simultaneous inbound TCP+TLS connections per listener (default 1000). */
  maxConnections?: number;
}

interface StreamListener {
  entry: ListenEntry;
  server: Server;
  local: HostPort;
}

export class TransportLayer {
  readonly #opts: Required<Omit<TransportLayerOptions, 'tls'>> & { tls: TlsClientOptions };
  readonly #receiver: Receiver;
  readonly #pool: ConnectionPool;
  readonly #udp: UdpTransport[] = [];
  readonly #streams: StreamListener[] = [];
  /** The bound address of each listen entry (after `start()`), by index in `listen`. */
  readonly #bound = new Map<number, HostPort>();

  constructor(opts: TransportLayerOptions) {
    this.#opts = {
      listen: opts.listen,
      clock: opts.clock,
      logger: opts.logger,
      counters: opts.counters,
      tls: opts.tls ?? {},
      maxMessageSize: opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
      idleTimeoutMs: opts.idleTimeoutMs ?? 600_000,
      tlsHandshakeTimeoutMs: opts.tlsHandshakeTimeoutMs ?? 10_000,
      maxConnections: opts.maxConnections ?? 1000,
    };
    const o = this.#opts;
    this.#receiver = new Receiver({
      counters: o.counters,
      logger: o.logger,
      clock: o.clock,
      maxMessageSize: o.maxMessageSize,
      sendResponse: (res, flow) => this.sendResponse(res, flow),
    });
    this.#pool = new ConnectionPool({
      clock: o.clock,
      counters: o.counters,
      tls: o.tls,
      maxMessageSize: o.maxMessageSize,
      idleTimeoutMs: o.idleTimeoutMs,
      tlsHandshakeTimeoutMs: o.tlsHandshakeTimeoutMs,
      onMessage: (data, conn) => this.#receiver.receive(data, conn, false),
      onFramingError: (conn, err, head) => this.#receiver.onFramingError(conn, err, head),
    });
  }

  setDelegate(delegate: TransportDelegate): void {
    this.#receiver.delegate = delegate;
  }

  /** Binds every listen entry. */
  async start(): Promise<void> {
    for (const [i, entry] of this.#opts.listen.entries()) {
      if (entry.transport === 'udp') {
        const sock = await bindUdp(entry.host, entry.port);
        sock.on('error', (err) => this.#opts.logger.warn({ err }, 'udp socket error'));
        this.#bound.set(
          i,
          this.attachDatagram(nodeDatagramSocket(sock, this.#opts.logger, this.#opts.counters)).local,
        );
      } else {
        this.#bound.set(i, await this.#listenStream(entry));
      }
    }
  }

  /**
   * The index in `listen` of the listener a flow came in on (its transport and bound port), or
   * undefined for a connection we opened ourselves (a registration's) and in-memory flows.
   */
  listenerOf(flow: Flow): number | undefined {
    for (const [i, bound] of this.#bound) {
      const entry = this.#opts.listen[i];
      const wildcard = bound.address === '0.0.0.0' || bound.address === '::';
      if (
        entry?.transport === flow.protocol &&
        bound.port === flow.local.port &&
        (wildcard || bound.address === flow.local.address)
      ) {
        return i;
      }
    }
    return undefined;
  }

  /** Closes listeners and connections. */
  async stop(): Promise<void> {
    this.#receiver.flushLogs();
    this.#pool.closeAll();
    await Promise.all(this.#udp.splice(0).map((u) => u.close()));
    await Promise.all(
      this.#streams.splice(0).map((l) => new Promise<void>((resolve) => l.server.close(() => resolve()))),
    );
  }

  /** What is bound: one entry per listener with the actual port. */
  listening(): { transport: TransportProtocol; address: string; port: number }[] {
    return [
      ...this.#udp.map((u) => ({ transport: 'udp' as const, ...u.local })),
      ...this.#streams.map((s) => ({ transport: s.entry.transport, ...s.local })),
    ];
  }

  /** Adds a UDP socket (production: from `start()`; unit tests: an in-memory fake). */
  attachDatagram(socket: DatagramSocket): UdpTransport {
    const udp = new UdpTransport(socket, this.#opts.counters, (data, flow) =>
      this.#receiver.receive(data, flow, true),
    );
    this.#udp.push(udp);
    return udp;
  }

  /** Adds a connected stream (inbound connections; unit tests pass an in-memory duplex). */
  attachStream(
    socket: Duplex,
    protocol: TransportProtocol,
    local: HostPort,
    remote: HostPort,
  ): StreamConnection {
    return this.#pool.attach(socket, protocol, local, remote);
  }

  /** Number of open TCP/TLS connections. */
  get connectionCount(): number {
    return this.#pool.size;
  }

  /**
   * The flow to send a request on: UDP socket of the target's address family, or a TCP/TLS
   * connection (reused when one to the same address and port is open, RFC 3261 §18.1.1).
   * @throws {SipTransportError} when no transport fits or the connection fails
   */
  async flowFor(target: Target): Promise<Flow> {
    if (target.protocol === 'udp') {
      const v6 = target.host.includes(':');
      const udp =
        this.#udp.find((u) => (u.family === 6) === v6) ??
        (isIP(target.host) === 0 ? this.#udp[0] : undefined);
      if (!udp) {
        throw new SipTransportError(`no UDP transport for ${target.host}`);
      }
      return udp.flowTo({ address: target.host, port: target.port });
    }
    return await this.#pool.connection(target);
  }

  /** Serialises and sends a message on a flow. */
  sendOn(flow: Flow, msg: SipMessage): void {
    flow.send(serialize(msg));
  }

  /**
   * Sends a response per RFC 3261 §18.2.2 and RFC 3581: on the request's connection when it is
   * still open, otherwise to `received`/`rport`/sent-by of the top Via.
   */
  sendResponse(res: SipResponse, flow: Flow): void {
    const data = serialize(res);
    if (flow.reliable && !flow.closed) {
      flow.send(data);
      return;
    }
    const via = res.via;
    if (!via) {
      // A Via we cannot read (e.g. a 400 to a request whose Via is the problem): answer the source.
      flow.send(data);
      return;
    }
    if (flow instanceof UdpFlow) {
      const maddr = via.params.get('maddr');
      const received = via.params.get('received');
      const rport = via.params.get('rport');
      const address = maddr ?? received ?? via.host;
      const port = maddr ? (via.port ?? 5060) : rport ? Number(rport) : (via.port ?? 5060);
      flow.udp.sendTo(data, { address, port });
      return;
    }
    const target: Target = {
      protocol: flow.protocol,
      host: via.params.get('received') ?? via.host,
      port: via.port ?? defaultPort(flow.protocol),
    };
    this.flowFor(target).then(
      (f) => f.send(data),
      (err: unknown) => {
        this.#opts.counters.transportErrors++;
        this.#opts.logger.debug({ err, target }, 'could not deliver response');
      },
    );
  }

  /**
   * The sent-by for a Via on this flow (RFC 3261 §18.1.1): the listening address and port of the
   * flow's transport so that responses and new requests come back to a listener.
   */
  sentBy(flow: Flow): HostPort {
    if (flow instanceof UdpFlow) {
      return this.#advertised(flow.udp.local, flow.local);
    }
    const v6 = flow.local.address.includes(':');
    const l =
      this.#streams.find(
        (s) => s.entry.transport === flow.protocol && s.local.address.includes(':') === v6,
      ) ?? this.#streams.find((s) => s.entry.transport === flow.protocol);
    return l ? this.#advertised(l.local, flow.local) : flow.local;
  }

  /** Where a peer reaches us for a target (Contact host/port/transport, RFC 3261 §8.1.1.8). */
  async localContact(target: Target): Promise<{ host: string; port: number; transport: TransportProtocol }> {
    const flow = await this.flowFor(target);
    const sb = this.sentBy(flow);
    return { host: sb.address, port: sb.port, transport: target.protocol };
  }

  /** The open TCP/TLS connection to a target, if any (registration keep-alives and closure). */
  connectionTo(target: Target): StreamConnection | undefined {
    return this.#pool.get(target);
  }

  #advertised(bound: HostPort, flowLocal: HostPort): HostPort {
    const wildcard = bound.address === '0.0.0.0' || bound.address === '::';
    return { address: wildcard ? flowLocal.address : bound.address, port: bound.port };
  }

  async #listenStream(entry: ListenEntry): Promise<HostPort> {
    let server: Server;
    if (entry.transport === 'tls') {
      let creds = entry.credentials;
      if (!creds) {
        if (!entry.certFile || !entry.keyFile) {
          throw new SipTransportError('a TLS listener needs certFile and keyFile');
        }
        creds = { cert: readFileSync(entry.certFile), key: readFileSync(entry.keyFile) };
      }
      server = createTlsServer({
        ...TLS_SERVER_OPTIONS,
        cert: creds.cert,
        key: creds.key,
        handshakeTimeout: this.#opts.tlsHandshakeTimeoutMs,
      });
      server.on('secureConnection', (sock: TLSSocket) => this.#accept(sock, 'tls'));
      server.on('tlsClientError', (err: Error, sock: TLSSocket) => {
        this.#opts.counters.tlsHandshakeErrors++;
        this.#opts.logger.debug({ err: err.message, remote: sock.remoteAddress }, 'tls handshake failed');
        sock.destroy();
      });
    } else {
      server = createNetServer((sock) => this.#accept(sock, 'tcp'));
    }
    server.maxConnections = this.#opts.maxConnections;
    server.on('drop', () => {
      this.#opts.counters.connectionsRejected++;
    });
    server.on('error', (err) => this.#opts.logger.warn({ err }, `${entry.transport} listener error`));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(entry.port, entry.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address();
    const local =
      a && typeof a === 'object'
        ? { address: a.address, port: a.port }
        : { address: entry.host, port: entry.port };
    this.#streams.push({ entry, server, local });
    return local;
  }

  /**
   * Gives the TLS listener of `listen[index]` a new certificate (a renewal). New connections get
   * it; connections already open (and their calls) keep the old one.
   * @throws SipTransportError when `listen[index]` is not a bound TLS listener.
   */
  setTlsCredentials(index: number, creds: TlsServerCredentials): void {
    const entry = this.#opts.listen[index];
    const l = this.#streams.find((s) => s.entry === entry);
    if (!l || l.entry.transport !== 'tls') {
      throw new SipTransportError(`listen[${index}] is not a bound TLS listener`);
    }
    (l.server as TlsServer).setSecureContext({ ...TLS_SERVER_OPTIONS, cert: creds.cert, key: creds.key });
  }

  #accept(sock: Socket | TLSSocket, protocol: TransportProtocol): void {
    sock.setNoDelay(true);
    const remote = { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 };
    const local = { address: sock.localAddress ?? '', port: sock.localPort ?? 0 };
    this.attachStream(sock, protocol, local, remote);
  }

  /** Parses and dispatches one message (`receive.ts`). Never throws. */
  receive(data: Buffer, flow: Flow, datagram: boolean): void {
    this.#receiver.receive(data, flow, datagram);
  }
}
