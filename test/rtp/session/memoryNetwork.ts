/**
 * An in-memory datagram network for unit tests: sockets bound by (host, port), synchronous
 * delivery, EADDRINUSE on a port taken twice. Implements the session's SocketFactory.
 */
import type { DatagramSocket, RemoteInfo, SocketFactory } from '../../../rtp/session/socket.js';

export class MemorySocket implements DatagramSocket {
  readonly localPort: number;
  readonly host: string;
  readonly #net: MemoryNetwork;
  #handler: (data: Uint8Array, from: RemoteInfo) => void = () => undefined;
  closed = false;
  /** Every datagram this socket sent. */
  readonly sent: { data: Uint8Array; port: number; address: string }[] = [];

  constructor(net: MemoryNetwork, host: string, port: number) {
    this.#net = net;
    this.host = host;
    this.localPort = port;
  }
  send(data: Uint8Array, port: number, address: string): void {
    if (this.closed) {
      return;
    }
    const copy = Uint8Array.from(data);
    if (this.#net.log) {
      this.sent.push({ data: copy, port, address });
    }
    this.#net.deliver(copy, { address: this.host, port: this.localPort }, address, port);
  }
  onMessage(handler: (data: Uint8Array, from: RemoteInfo) => void): void {
    this.#handler = handler;
  }
  onError(): void {}
  close(): void {
    if (!this.closed) {
      this.closed = true;
      this.#net.unbind(this);
    }
  }
  receive(data: Uint8Array, from: RemoteInfo): void {
    this.#handler(data, from);
  }
}

export class MemoryNetwork implements SocketFactory {
  readonly bound = new Map<string, MemorySocket>();
  /** Whether sockets keep a log of what they sent (`sent`); off in benchmarks. */
  readonly log: boolean;
  /** Ports that refuse to bind (as if taken by another process). */
  readonly blocked = new Set<number>();
  binds = 0;

  constructor(options: { log?: boolean } = {}) {
    this.log = options.log ?? true;
  }

  bind(host: string, port: number): Promise<MemorySocket> {
    this.binds++;
    const key = `${host}:${port}`;
    if (this.bound.has(key) || this.blocked.has(port)) {
      const err = Object.assign(new Error(`bind EADDRINUSE ${key}`), { code: 'EADDRINUSE' });
      return Promise.reject(err);
    }
    const s = new MemorySocket(this, host, port);
    this.bound.set(key, s);
    return Promise.resolve(s);
  }
  unbind(s: MemorySocket): void {
    this.bound.delete(`${s.host}:${s.localPort}`);
  }
  deliver(data: Uint8Array, from: RemoteInfo, address: string, port: number): void {
    this.bound.get(`${address}:${port}`)?.receive(data, from);
  }
  /** Sends `data` from an arbitrary (unbound) address, as a spoofing or NATed peer would. */
  inject(data: Uint8Array, from: RemoteInfo, address: string, port: number): void {
    this.deliver(data, from, address, port);
  }
}
