/**
 * In-memory sockets for unit tests: a fake datagram socket that records what is sent and lets the
 * test deliver datagrams, and a connected pair of duplex streams for TCP/TLS.
 */
import { Duplex } from 'node:stream';
import { newCounters, type SipCounters } from '../../../sip/counters.js';
import { silentLogger, type Logger } from '../../../lib/logger.js';
import { parseMessage } from '../../../sip/message/parser.js';
import type { SipMessage } from '../../../sip/message/SipMessage.js';
import { TransportLayer } from '../../../sip/transport/TransportLayer.js';
import type { DatagramSocket, HostPort } from '../../../sip/transport/types.js';
import { FakeClock } from '../../helpers/FakeClock.js';

export interface Sent {
  data: Buffer;
  to: HostPort;
}

export class FakeDatagramSocket implements DatagramSocket {
  readonly sent: Sent[] = [];
  #cb: ((data: Buffer, from: HostPort) => void) | undefined;
  readonly #local: HostPort;

  constructor(local: HostPort = { address: '127.0.0.1', port: 5062 }) {
    this.#local = local;
  }

  send(data: Buffer, port: number, address: string): void {
    this.sent.push({ data: Buffer.from(data), to: { address, port } });
  }

  onMessage(cb: (data: Buffer, from: HostPort) => void): void {
    this.#cb = cb;
  }

  address(): HostPort {
    return this.#local;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Delivers a datagram as if it came from `from`. */
  deliver(data: Buffer | string, from: HostPort = { address: '127.0.0.1', port: 5070 }): void {
    this.#cb?.(typeof data === 'string' ? Buffer.from(data) : data, from);
  }

  /** Parsed messages sent so far (and clears the list when `take`). */
  messages(take = true): (SipMessage & { sentTo: HostPort })[] {
    const out = this.sent.map((s) => Object.assign(parseMessage(s.data), { sentTo: s.to }));
    if (take) {
      this.sent.length = 0;
    }
    return out;
  }
}

/** Two connected in-memory duplex streams. */
export function duplexPair(): [Duplex & { destroyed: boolean }, Duplex & { destroyed: boolean }] {
  const peer: { a?: Duplex; b?: Duplex } = {};
  const a = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      peer.b?.push(chunk);
      cb();
    },
    final(cb) {
      peer.b?.push(null);
      cb();
    },
  });
  const b = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      peer.a?.push(chunk);
      cb();
    },
    final(cb) {
      peer.a?.push(null);
      cb();
    },
  });
  peer.a = a;
  peer.b = b;
  return [a, b];
}

export interface MemoryTransport {
  clock: FakeClock;
  counters: SipCounters;
  transport: TransportLayer;
  udp: FakeDatagramSocket;
}

export function memoryTransport(opts: { maxMessageSize?: number; logger?: Logger } = {}): MemoryTransport {
  const clock = new FakeClock();
  const counters = newCounters();
  const transport = new TransportLayer({
    listen: [],
    clock,
    logger: opts.logger ?? silentLogger,
    counters,
    ...(opts.maxMessageSize !== undefined ? { maxMessageSize: opts.maxMessageSize } : {}),
  });
  const udp = new FakeDatagramSocket();
  transport.attachDatagram(udp);
  return { clock, counters, transport, udp };
}

/** Builds a message from lines joined with CRLF (and the empty line plus body). */
export function sipText(lines: readonly string[], body = ''): string {
  return [...lines, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
}

/** A logger that records every line (level, fields, message) for assertions. */
export function recordingLogger(): Logger & { lines: { level: string; obj: object; msg: string }[] } {
  const lines: { level: string; obj: object; msg: string }[] = [];
  const at =
    (level: string) =>
    (obj: object, msg = ''): void => {
      lines.push({ level, obj, msg });
    };
  return {
    lines,
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}
