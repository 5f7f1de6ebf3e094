/**
 * One TCP or TLS connection (RFC 3261 §18.3): framing, an idle timeout from the injected clock,
 * CRLF keep-alive answers (RFC 5626 §4.4.1), and closure notification.
 */
import type { Duplex } from 'node:stream';
import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { SipParseError } from '../errors.js';
import { StreamFramer } from './framing.js';
import type { Flow, HostPort, TransportProtocol } from './types.js';

interface StreamConnectionOptions {
  maxMessageSize: number;
  idleTimeoutMs: number;
  clock: Clock;
  onMessage(data: Buffer, flow: StreamConnection): void;
  onFramingError(conn: StreamConnection, err: SipParseError, oversizeHead: Buffer | undefined): void;
  onClose(conn: StreamConnection): void;
  onSent(): void;
}

export class StreamConnection implements Flow {
  readonly protocol: TransportProtocol;
  readonly reliable = true;
  readonly local: HostPort;
  readonly remote: HostPort;
  readonly #socket: Duplex;
  readonly #framer: StreamFramer;
  readonly #opts: StreamConnectionOptions;
  #closed = false;
  #idle: TimerHandle | undefined;
  readonly #closeListeners: (() => void)[] = [];

  constructor(
    socket: Duplex,
    protocol: TransportProtocol,
    local: HostPort,
    remote: HostPort,
    opts: StreamConnectionOptions,
  ) {
    this.#socket = socket;
    this.protocol = protocol;
    this.local = local;
    this.remote = remote;
    this.#opts = opts;
    this.#framer = new StreamFramer(opts.maxMessageSize);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
    socket.on('end', () => this.close());
    this.#touch();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes buffered waiting for the rest of a message (for tests and diagnostics). */
  get buffered(): number {
    return this.#framer.buffered;
  }

  onClose(listener: () => void): () => void {
    this.#closeListeners.push(listener);
    return () => {
      const i = this.#closeListeners.indexOf(listener);
      if (i >= 0) {
        this.#closeListeners.splice(i, 1);
      }
    };
  }

  send(data: Buffer): void {
    if (this.#closed) {
      return;
    }
    this.#touch();
    this.#opts.onSent();
    this.#socket.write(data);
  }

  /** Closes the connection; `graceful` flushes what was written first (then destroys after 2 s). */
  close(graceful = false): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    if (this.#idle !== undefined) {
      this.#opts.clock.clearTimeout(this.#idle);
    }
    if (graceful) {
      this.#socket.end();
      this.#opts.clock.setTimeout(() => this.#socket.destroy(), 2000);
    } else {
      this.#socket.destroy();
    }
    this.#opts.onClose(this);
    for (const l of this.#closeListeners.splice(0)) {
      l();
    }
  }

  #touch(): void {
    if (this.#idle !== undefined) {
      this.#opts.clock.clearTimeout(this.#idle);
    }
    this.#idle = this.#opts.clock.setTimeout(() => this.close(), this.#opts.idleTimeoutMs);
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) {
      return;
    }
    this.#touch();
    const out = this.#framer.push(chunk);
    for (let i = 0; i < out.pings; i++) {
      this.#socket.write('\r\n');
    }
    for (const m of out.messages) {
      this.#opts.onMessage(m, this);
    }
    if (out.error) {
      this.#opts.onFramingError(this, out.error, out.oversizeHead);
      this.close(true);
    }
  }
}
