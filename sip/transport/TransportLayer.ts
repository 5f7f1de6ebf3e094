/**
 * The transport layer (RFC 3261 §18): listens on UDP/TCP/TLS (IPv4 and IPv6), parses what
 * arrives, answers or drops bad input (counted, never thrown), stamps `received`/`rport` on
 * requests (§18.2.1, RFC 3581), routes responses (§18.2.2), and keeps TCP/TLS connections for
 * reuse in both directions (§18, RFC 5626-lite keep-alives).
 */
import { readFileSync } from 'node:fs';
import { createServer as createNetServer, isIP, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Clock } from '../clock.js';
import type { SipCounters } from '../counters.js';
import { SipParseError, SipTransportError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createResponse } from '../message/build.js';
import { DEFAULT_MAX_MESSAGE_SIZE, parseHeaderLines, parseMessage } from '../message/parser.js';
import { serialize, SipRequest, type SipMessage, type SipResponse } from '../message/SipMessage.js';
import { hasResponseEssentials, requestProblem, responseProblem } from '../message/validate.js';
import { stampVia } from './stampVia.js';
import { StreamConnection } from './StreamConnection.js';
import { connectStream, type TlsClientOptions } from './connect.js';
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
  /** TLS server certificate and key (PEM files). */
  certFile?: string;
  keyFile?: string;
}

export type { TlsClientOptions };

export interface TransportLayerOptions {
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

export interface TransportDelegate {
  onRequest(req: SipRequest, flow: Flow): void;
  onResponse(res: SipResponse, flow: Flow): void;
}

interface StreamListener {
  entry: ListenEntry;
  server: Server;
  local: HostPort;
}

function connKey(protocol: TransportProtocol, address: string, port: number): string {
  return `${protocol}|${address.toLowerCase()}|${port}`;
}

export class TransportLayer {
  readonly #opts: Required<Omit<TransportLayerOptions, 'tls'>> & { tls: TlsClientOptions };
  #delegate: TransportDelegate | undefined;
  readonly #udp: UdpTransport[] = [];
  readonly #streams: StreamListener[] = [];
  readonly #connections = new Map<string, StreamConnection>();
  readonly #pending = new Map<string, Promise<StreamConnection>>();
  readonly #all = new Set<StreamConnection>();

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
  }

  setDelegate(delegate: TransportDelegate): void {
    this.#delegate = delegate;
  }

  /** Binds every listen entry. */
  async start(): Promise<void> {
    for (const entry of this.#opts.listen) {
      if (entry.transport === 'udp') {
        const sock = await bindUdp(entry.host, entry.port);
        sock.on('error', (err) => this.#opts.logger.warn({ err }, 'udp socket error'));
        this.attachDatagram(nodeDatagramSocket(sock, this.#opts.logger, this.#opts.counters));
      } else {
        await this.#listenStream(entry);
      }
    }
  }

  /** Closes listeners and connections. */
  async stop(): Promise<void> {
    for (const c of [...this.#all]) {
      c.close();
    }
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
    const udp = new UdpTransport(socket, this.#opts.counters, (data, flow) => this.receive(data, flow, true));
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
    const conn = new StreamConnection(socket, protocol, local, remote, {
      maxMessageSize: this.#opts.maxMessageSize,
      idleTimeoutMs: this.#opts.idleTimeoutMs,
      clock: this.#opts.clock,
      onMessage: (data, flow) => this.receive(data, flow, false),
      onFramingError: (c, err, head) => this.#onFramingError(c, err, head),
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

  /** Number of open TCP/TLS connections. */
  get connectionCount(): number {
    return this.#all.size;
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
    const c = this.#connections.get(connKey(target.protocol, target.host, target.port));
    return c && !c.closed ? c : undefined;
  }

  #advertised(bound: HostPort, flowLocal: HostPort): HostPort {
    const wildcard = bound.address === '0.0.0.0' || bound.address === '::';
    return { address: wildcard ? flowLocal.address : bound.address, port: bound.port };
  }

  async #listenStream(entry: ListenEntry): Promise<void> {
    let server: Server;
    if (entry.transport === 'tls') {
      if (!entry.certFile || !entry.keyFile) {
        throw new SipTransportError('a TLS listener needs certFile and keyFile');
      }
      server = createTlsServer({
        cert: readFileSync(entry.certFile),
        key: readFileSync(entry.keyFile),
        handshakeTimeout: this.#opts.tlsHandshakeTimeoutMs,
        minVersion: 'TLSv1.2',
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
  }

  #accept(sock: Socket | TLSSocket, protocol: TransportProtocol): void {
    sock.setNoDelay(true);
    const remote = { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 };
    const local = { address: sock.localAddress ?? '', port: sock.localPort ?? 0 };
    this.attachStream(sock, protocol, local, remote);
  }

  async #connect(target: Target): Promise<StreamConnection> {
    let sock: Socket;
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
    const conn = this.attachStream(sock, target.protocol, local, remote);
    // Also findable under the name it was asked for (a host name, or an unnormalised IPv6 text).
    this.#connections.set(connKey(target.protocol, target.host, target.port), conn);
    conn.onClose(() => {
      const key = connKey(target.protocol, target.host, target.port);
      if (this.#connections.get(key) === conn) {
        this.#connections.delete(key);
      }
    });
    return conn;
  }

  #onFramingError(conn: StreamConnection, err: SipParseError, head: Buffer | undefined): void {
    this.#opts.counters.streamFramingErrors++;
    if (err.code === 'SIP_ERR_TOO_LARGE') {
      this.#opts.counters.oversize++;
    }
    this.#opts.logger.info(
      { code: err.code, remote: conn.remote, protocol: conn.protocol },
      'closing connection after a framing error',
    );
    if (head) {
      try {
        const text = head.toString('utf8');
        const lineEnd = text.indexOf('\r\n');
        if (!text.startsWith('SIP/') && lineEnd > 0) {
          const headers = parseHeaderLines(text.slice(lineEnd + 2, text.length - 4), true);
          this.#answerBroken(
            new SipParseError('SIP_ERR_TOO_LARGE', err.message, { isRequest: true, headers, status: 513 }),
            conn,
          );
        }
      } catch {
        // nothing can be answered
      }
    }
  }

  /** Parses and dispatches one message. Never throws. */
  receive(data: Buffer, flow: Flow, datagram: boolean): void {
    this.#opts.counters.messagesReceived++;
    let msg: SipMessage;
    try {
      msg = parseMessage(data, { maxSize: this.#opts.maxMessageSize, datagram });
    } catch (err) {
      if (err instanceof SipParseError) {
        if (err.code === 'SIP_ERR_EMPTY') {
          return; // a keep-alive
        }
        if (err.code === 'SIP_ERR_TOO_LARGE') {
          this.#opts.counters.oversize++;
        }
        this.#answerBroken(err, flow);
      } else {
        this.#opts.counters.malformedDropped++;
        this.#opts.logger.warn({ err }, 'unexpected error while parsing');
      }
      return;
    }
    try {
      if (msg instanceof SipRequest) {
        stampVia(msg, flow);
        const problem = requestProblem(msg);
        if (problem && !/^SIP\s*\/\s*\d\.\d\s*\/\s*\S+\s+[^;,\s]+/i.test(msg.getAll('via')[0] ?? '')) {
          // Without a Via that names a SIP sender there is nobody to answer: drop.
          this.#opts.counters.malformedDropped++;
          this.#opts.logger.debug({ problem, remote: flow.remote }, 'unanswerable request dropped');
          return;
        }
        if (problem) {
          this.#opts.counters.malformedRejected++;
          this.#opts.logger.debug({ problem, remote: flow.remote }, 'malformed request answered 400');
          this.sendResponse(createResponse(msg, 400, { reason: problem }), flow);
          return;
        }
        this.#delegate?.onRequest(msg, flow);
      } else {
        const problem = responseProblem(msg);
        if (problem) {
          this.#opts.counters.malformedDropped++;
          this.#opts.logger.debug({ problem, remote: flow.remote }, 'malformed response dropped');
          return;
        }
        this.#delegate?.onResponse(msg, flow);
      }
    } catch (err) {
      // A bug above us must not take the socket down.
      this.#opts.logger.error({ err }, 'error while handling a SIP message');
    }
  }

  #answerBroken(err: SipParseError, flow: Flow): void {
    if (!err.isRequest || !err.headers || !hasResponseEssentials(err.headers)) {
      this.#opts.counters.malformedDropped++;
      this.#opts.logger.debug(
        { code: err.code, remote: flow.remote, bytes: err.message },
        'unparseable message dropped',
      );
      return;
    }
    this.#opts.counters.malformedRejected++;
    const req = new SipRequest(
      'X',
      'sip:invalid',
      err.headers.map((h) => ({ name: h.name, value: h.value })),
    );
    stampVia(req, flow);
    const reason = err.status === 400 ? `Bad Request (${err.code})` : undefined;
    const res = createResponse(req, err.status, reason ? { reason } : {});
    this.#opts.logger.debug(
      { code: err.code, remote: flow.remote, status: err.status },
      'malformed request answered',
    );
    this.sendResponse(res, flow);
  }
}
