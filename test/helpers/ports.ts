import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

const taken = new Set<number>();

async function udpFree(port: number, host: string): Promise<boolean> {
  const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  return await new Promise((resolve) => {
    sock.once('error', () => {
      sock.close();
      resolve(false);
    });
    sock.bind(port, host, () => {
      sock.close(() => resolve(true));
    });
  });
}

async function tcpFree(port: number, host: string): Promise<boolean> {
  const srv = createServer();
  return await new Promise((resolve) => {
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/**
 * Ports are handed out from 10000–19999: below Linux's range for outgoing connections
 * (`net.ipv4.ip_local_port_range`, 32768–60999 by default), where a client socket of any program
 * on the machine (a WebSocket to the fake STT, PostgreSQL's clients, SIPp) may take a port between
 * this check and the moment the test's server binds it, and below the RTP range the product and the
 * load bench use by default (20000–29999).
 */
const FIRST = 10000;
const END = 20000;

/**
 * Ports in that range that `fetch` refuses to connect to (the Fetch standard's "bad port" list,
 * which undici enforces: `TypeError: fetch failed`, cause `bad port`): an HTTP server a test
 * reaches with `fetch` must not get one.
 */
const FETCH_BLOCKED = new Set([10080]);

/**
 * A port that is free for both UDP and TCP on `host`, and (with `span` > 1) the `span - 1` ports
 * after it too (SIPp binds its media port and media port + 2). Never hands out the same port twice
 * in one process.
 */
export async function freePort(host = '127.0.0.1', span = 1): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = FIRST + Math.floor(Math.random() * Math.floor((END - FIRST - span) / 2)) * 2;
    let ok = true;
    for (let p = base; p < base + span && ok; p++) {
      ok = !taken.has(p) && !FETCH_BLOCKED.has(p) && (await udpFree(p, host)) && (await tcpFree(p, host));
    }
    if (ok) {
      for (let p = base; p < base + span; p++) {
        taken.add(p);
      }
      return base;
    }
  }
  throw new Error('no free port found');
}
