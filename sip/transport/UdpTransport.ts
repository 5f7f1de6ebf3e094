/**
 * UDP (RFC 3261 §18): one bound socket per listen entry, a lightweight Flow per remote address.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { SipCounters } from '../counters.js';
import type { Logger } from '../../lib/logger.js';
import type { DatagramSocket, Flow, HostPort } from './types.js';

/** Adapts a bound `dgram.Socket` to {@link DatagramSocket}. */
export function nodeDatagramSocket(sock: Socket, logger: Logger, counters: SipCounters): DatagramSocket {
  return {
    send: (data, port, address) => {
      try {
        sock.send(data, port, address, (err) => {
          if (err) {
            counters.transportErrors++;
            logger.debug({ err, address, port }, 'udp send failed');
          }
        });
      } catch (err) {
        // Closed socket or bad address: a send never throws into a timer or socket handler.
        counters.transportErrors++;
        logger.debug({ err, address, port }, 'udp send failed');
      }
    },
    onMessage: (cb) => {
      sock.on('message', (data, rinfo) => cb(data, { address: rinfo.address, port: rinfo.port }));
    },
    address: () => {
      const a = sock.address();
      return { address: a.address, port: a.port };
    },
    close: () => new Promise((resolve) => sock.close(() => resolve())),
  };
}

/** Binds a UDP socket on host:port (port 0 = any). */
export async function bindUdp(host: string, port: number): Promise<Socket> {
  // A larger receive buffer absorbs bursts of call setups (the kernel caps it at rmem_max).
  const sock = createSocket({
    type: host.includes(':') ? 'udp6' : 'udp4',
    reuseAddr: false,
    recvBufferSize: 4 << 20,
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, host, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  return sock;
}

export class UdpFlow implements Flow {
  readonly protocol = 'udp' as const;
  readonly reliable = false;
  readonly closed = false;
  readonly udp: UdpTransport;
  readonly remote: HostPort;

  constructor(udp: UdpTransport, remote: HostPort) {
    this.udp = udp;
    this.remote = remote;
  }

  get local(): HostPort {
    return this.udp.local;
  }

  send(data: Buffer): void {
    this.udp.sendTo(data, this.remote);
  }
}

export class UdpTransport {
  readonly #socket: DatagramSocket;
  readonly #counters: SipCounters;
  readonly local: HostPort;

  constructor(socket: DatagramSocket, counters: SipCounters, onData: (data: Buffer, flow: Flow) => void) {
    this.#socket = socket;
    this.#counters = counters;
    this.local = socket.address();
    socket.onMessage((data, from) => onData(data, new UdpFlow(this, from)));
  }

  get family(): 4 | 6 {
    return this.local.address.includes(':') ? 6 : 4;
  }

  flowTo(remote: HostPort): UdpFlow {
    return new UdpFlow(this, remote);
  }

  sendTo(data: Buffer, remote: HostPort): void {
    this.#counters.messagesSent++;
    this.#socket.send(data, remote.port, remote.address);
  }

  close(): Promise<void> {
    return this.#socket.close();
  }
}
