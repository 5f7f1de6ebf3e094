import { createSocket } from 'node:dgram';

/** Where a datagram came from. */
export interface RemoteInfo {
  address: string;
  port: number;
}

/**
 * The datagram socket a session uses: a tiny interface, so unit tests run on an in-memory network
 * and only integration tests bind kernel sockets.
 */
export interface DatagramSocket {
  /** The bound local port. */
  readonly localPort: number;
  /** Sends one datagram (fire and forget: errors are reported through `onError`). */
  send(data: Uint8Array, port: number, address: string): void;
  /** Sets the handler of received datagrams (`data` may be held: it is not reused). */
  onMessage(handler: (data: Uint8Array, from: RemoteInfo) => void): void;
  /** Sets the handler of asynchronous socket errors. */
  onError(handler: (err: Error) => void): void;
  /** Closes the socket (idempotent). */
  close(): void;
}

/** Binds sockets; rejects (e.g. with `EADDRINUSE`) when the port is taken. */
export interface SocketFactory {
  bind(host: string, port: number): Promise<DatagramSocket>;
}

/** Real UDP sockets (node:dgram). */
export const udpSocketFactory: SocketFactory = {
  bind(host: string, port: number): Promise<DatagramSocket> {
    const sock = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
    return new Promise((resolve, reject) => {
      const onBindError = (err: Error): void => {
        sock.close();
        reject(err);
      };
      sock.once('error', onBindError);
      sock.bind(port, host, () => {
        sock.off('error', onBindError);
        let closed = false;
        let errorHandler: (err: Error) => void = () => undefined;
        sock.on('error', (err) => errorHandler(err));
        resolve({
          localPort: sock.address().port,
          send(data, toPort, address) {
            if (!closed) {
              sock.send(data, toPort, address, (err) => {
                if (err) {
                  errorHandler(err);
                }
              });
            }
          },
          onMessage(handler) {
            sock.on('message', (msg, rinfo) => handler(msg, rinfo));
          },
          onError(handler) {
            errorHandler = handler;
          },
          close() {
            if (!closed) {
              closed = true;
              sock.close();
            }
          },
        });
      });
    });
  },
};

/** How many RTP/RTCP pairs (an even port and the next) `[portMin, portMax]` holds: calls at once. */
export function portPairCount(portMin: number, portMax: number): number {
  const first = portMin + (portMin % 2);
  return Math.max(0, Math.floor((portMax - first + 1) / 2));
}

/**
 * Binds an RTP/RTCP socket pair on an even port and the next one, from `[portMin, portMax]`,
 * starting at a random even port and wrapping around. Whatever was bound is closed again when a
 * pair fails.
 * @returns the pair, RTP first
 * @throws the last bind error when no pair in the range is free
 */
export async function bindPortPair(
  factory: SocketFactory,
  host: string,
  portMin: number,
  portMax: number,
  random: () => number = Math.random,
): Promise<[DatagramSocket, DatagramSocket]> {
  const first = portMin + (portMin % 2);
  const pairs = portPairCount(portMin, portMax);
  let lastError: unknown = new Error(`no even port pair in ${portMin}–${portMax}`);
  const start = Math.floor(random() * pairs);
  for (let i = 0; i < pairs; i++) {
    const port = first + 2 * ((start + i) % pairs);
    let rtp: DatagramSocket | undefined;
    try {
      rtp = await factory.bind(host, port);
      const rtcp = await factory.bind(host, port + 1);
      return [rtp, rtcp];
    } catch (err) {
      rtp?.close();
      lastError = err;
    }
  }
  throw lastError;
}
