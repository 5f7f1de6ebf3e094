/**
 * Bad input on real sockets: garbage datagrams, truncated TCP streams, a 10 MB body, and a
 * thousand half-open TLS handshakes. The process stays up, every piece is answered or dropped and
 * counted, connections are released, and a normal request is still answered afterwards.
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SipStack } from '../../sip/index.js';
import { testCerts } from '../helpers/certs.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';

let stack: SipStack | undefined;

afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});
afterAll(async () => {
  await stopAll();
});

const options = (transport: string, branch: string): string =>
  [
    `OPTIONS sip:alice@127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/${transport} 127.0.0.1:9;branch=z9hG4bK${branch};rport`,
    'From: <sip:probe@127.0.0.1>;tag=p1',
    'To: <sip:alice@127.0.0.1>',
    `Call-ID: probe-${branch}`,
    'CSeq: 1 OPTIONS',
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');

async function start(
  extra: { tls?: boolean; handshakeMs?: number } = {},
): Promise<{ port: number; tlsPort: number }> {
  const port = await freePort();
  const tlsPort = await freePort();
  const certs = extra.tls ? await testCerts() : undefined;
  stack = new SipStack({
    listen: [
      { transport: 'udp', host: '127.0.0.1', port },
      { transport: 'tcp', host: '127.0.0.1', port },
      ...(certs
        ? [
            {
              transport: 'tls' as const,
              host: '127.0.0.1',
              port: tlsPort,
              certFile: certs.serverCert,
              keyFile: certs.serverKey,
            },
          ]
        : []),
    ],
    ...(extra.handshakeMs !== undefined ? { tlsHandshakeTimeoutMs: extra.handshakeMs } : {}),
  });
  await stack.start();
  return { port, tlsPort };
}

async function udpOptions(port: number): Promise<string> {
  const sock = createSocket('udp4');
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer over UDP')), 5000);
      sock.on('message', (m) => {
        clearTimeout(timer);
        resolve(m.toString('latin1').split('\r\n')[0] ?? '');
      });
      sock.send(options('UDP', `u${port}`), port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

async function tcpExchange(port: number, write: (s: Socket) => void): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => write(s));
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve(got));
    setTimeout(() => {
      s.destroy();
      reject(new Error(`no close within 20 s; got ${got.slice(0, 80)}`));
    }, 20_000);
  });
}

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('bad input', () => {
  it('drops and counts 2000 garbage datagrams, then still answers OPTIONS', async () => {
    const { port } = await start();
    const sock = createSocket('udp4');
    let seed = 1;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    for (let i = 0; i < 2000; i++) {
      const len = 1 + (rnd() % 1400);
      const buf = Buffer.alloc(len);
      for (let j = 0; j < len; j++) {
        buf[j] = rnd() & 0xff;
      }
      if (i % 10 === 0) {
        buf.write('INVITE sip:x SIP/2.0\r\nVia: junk\r\n\r\n'); // request-looking garbage, unanswerable
      }
      sock.send(buf, port, '127.0.0.1');
      if (i % 200 === 0) {
        await settle(10);
      }
    }
    sock.close();
    await settle(500);
    expect(await udpOptions(port)).toBe('SIP/2.0 200 OK');
    const c = stack!.counters;
    // The kernel may drop some datagrams under load; every one that arrived was dropped and counted
    // (all but the OPTIONS probe), none was answered.
    expect(c.messagesReceived).toBeGreaterThan(500);
    expect(c.malformedDropped).toBe(c.messagesReceived - 1);
    expect(c.malformedRejected).toBe(0);
  });

  it('releases 200 truncated TCP streams and still answers over TCP', async () => {
    const { port } = await start();
    const half = options('TCP', 'half').slice(0, 90);
    await Promise.all(
      Array.from({ length: 200 }, () =>
        tcpExchange(port, (s) => {
          s.end(half);
        }),
      ),
    );
    await settle(200);
    expect(stack!.transport.connectionCount).toBe(0);
    const answer = await tcpExchange(port, (s) => {
      s.write(options('TCP', 'after'));
      setTimeout(() => s.end(), 300);
    });
    expect(answer.startsWith('SIP/2.0 200 OK')).toBe(true);
  });

  it('answers a 10 MB body on TCP with 513 and closes that connection', async () => {
    const { port } = await start();
    const big = 10 * 1024 * 1024;
    const head = options('TCP', 'big').replace('Content-Length: 0', `Content-Length: ${big}`);
    const answer = await tcpExchange(port, (s) => {
      s.write(head);
      const chunk = Buffer.alloc(1024 * 1024, 0x61);
      for (let i = 0; i < 10; i++) {
        s.write(chunk);
      }
    });
    expect(answer.split('\r\n')[0]).toBe('SIP/2.0 513 Message Too Large');
    expect(stack!.counters.oversize).toBe(1);
    await settle(100);
    expect(stack!.transport.connectionCount).toBe(0);
  });

  it('survives 1000 half-open TLS handshakes (timed out and counted) and still serves TLS', async () => {
    const { tlsPort } = await start({ tls: true, handshakeMs: 1000 });
    const certs = await testCerts();
    const socks: Socket[] = [];
    const closed: Promise<void>[] = [];
    for (let i = 0; i < 1000; i++) {
      const s = netConnect({ host: '127.0.0.1', port: tlsPort });
      s.on('error', () => undefined);
      closed.push(new Promise((r) => s.on('close', () => r())));
      if (i % 4 === 0) {
        s.on('connect', () => s.write('GET / HTTP/1.0\r\n\r\n')); // not TLS at all
      }
      socks.push(s);
      if (i % 100 === 0) {
        await settle(20);
      }
    }
    // The server must close every one of them (handshake timeout or protocol error).
    await Promise.race([
      Promise.all(closed),
      settle(15_000).then(() => {
        throw new Error('server left half-open TLS connections open');
      }),
    ]);
    expect(stack!.counters.tlsHandshakeErrors).toBeGreaterThanOrEqual(900);
    const answer = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect(
        { host: '127.0.0.1', port: tlsPort, ca: readFileSync(certs.caCert), servername: 'localhost' },
        () => s.write(options('TLS', 'tlsafter')),
      );
      s.on('data', (d: Buffer) => {
        resolve(d.toString('latin1').split('\r\n')[0] ?? '');
        s.end();
      });
      s.on('error', reject);
    });
    expect(answer).toBe('SIP/2.0 200 OK');
  });
});
