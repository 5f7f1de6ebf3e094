/**
 * ConnectionPool on its own (RFC 3261 §18.1.1 / §18.2.2 reuse): a connection is found by protocol,
 * address (case-insensitively) and port whichever side opened it, is forgotten once closed, and
 * concurrent senders to one address share a single connect attempt (to a loopback TCP server).
 */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { newCounters } from '../../../sip/counters.js';
import { ConnectionPool } from '../../../sip/transport/ConnectionPool.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { freePort } from '../../helpers/ports.js';
import { duplexPair } from '../support/memory.js';

function pool(): { pool: ConnectionPool; counters: ReturnType<typeof newCounters> } {
  const counters = newCounters();
  return {
    counters,
    pool: new ConnectionPool({
      clock: new FakeClock(),
      counters,
      tls: {},
      maxMessageSize: 65535,
      idleTimeoutMs: 600_000,
      tlsHandshakeTimeoutMs: 10_000,
      onMessage: () => undefined,
      onFramingError: () => undefined,
    }),
  };
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

describe('ConnectionPool', () => {
  it('finds an inbound connection by protocol, address and port, and forgets it when it closes', () => {
    const { pool: p } = pool();
    const [ours] = duplexPair();
    const conn = p.attach(
      ours,
      'tcp',
      { address: '::1', port: 5060 },
      { address: '2001:DB8::1', port: 5070 },
    );
    expect(p.get({ protocol: 'tcp', host: '2001:db8::1', port: 5070 })).toBe(conn);
    expect(p.get({ protocol: 'tls', host: '2001:db8::1', port: 5070 })).toBeUndefined();
    expect(p.get({ protocol: 'tcp', host: '2001:db8::1', port: 5071 })).toBeUndefined();
    expect(p.size).toBe(1);
    conn.close();
    expect(p.get({ protocol: 'tcp', host: '2001:db8::1', port: 5070 })).toBeUndefined();
    expect(p.size).toBe(0);
  });

  it('reuses an inbound connection for a send to the same address instead of connecting', async () => {
    const { pool: p } = pool();
    const [ours] = duplexPair();
    const unused = await freePort();
    const conn = p.attach(
      ours,
      'tcp',
      { address: '127.0.0.1', port: 5060 },
      { address: '127.0.0.1', port: unused },
    );
    // Nothing listens there: a connect attempt would reject.
    await expect(p.connection({ protocol: 'tcp', host: '127.0.0.1', port: unused })).resolves.toBe(conn);
  });

  it('shares one connect attempt between concurrent senders and finds the result under the asked name', async () => {
    server = createServer((sock) => sock.on('error', () => undefined));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const { pool: p } = pool();
    const target = { protocol: 'tcp' as const, host: 'localhost', port };
    const [a, b] = await Promise.all([p.connection(target), p.connection(target)]);
    expect(a).toBe(b);
    expect(p.get(target)).toBe(a);
    expect(p.get({ protocol: 'tcp', host: a.remote.address, port })).toBe(a);
    expect(p.size).toBe(1); // a second connect would have added a second connection
    a.close();
    expect(p.get(target)).toBeUndefined();
    expect(p.size).toBe(0);
  });

  it('counts a failed connect and rejects with SIP_ERR_TRANSPORT', async () => {
    const { pool: p, counters } = pool();
    await expect(
      p.connection({ protocol: 'tcp', host: '127.0.0.1', port: await freePort() }),
    ).rejects.toMatchObject({
      code: 'SIP_ERR_TRANSPORT',
    });
    expect(counters.transportErrors).toBe(1);
  });
});
