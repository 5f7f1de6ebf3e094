// The registration client (sip/registration) against Kamailio 5.6 as registrar with digest auth,
// over UDP, TCP and TLS: first registration, refresh with the registrar's expiry, 423 + Min-Expires,
// SHA-256, wrong password, unregister, and recovery after Kamailio is stopped and restarted.
//
// The whole path is sipscribe's: Registration → createStackRegistrationTransport → TransactionLayer
// (non-INVITE client transaction, Timer E/F) → TransportLayer (UDP, TCP, TLS verified against the
// test CA) → Kamailio.
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../lib/clock.js';
import { newCounters, type SipCounters } from '../../sip/counters.js';
import { silentLogger } from '../../lib/logger.js';
import { createStackRegistrationTransport } from '../../sip/registration/stackTransport.js';
import { TransactionLayer } from '../../sip/transaction/TransactionLayer.js';
import { TransportLayer } from '../../sip/transport/TransportLayer.js';
import { RegistrationManager } from '../../sip/registration/RegistrationManager.js';
import {
  Registration,
  type RegistrationAccount,
  type RegistrationOptions,
  type RegistrationStatus,
} from '../../sip/registration/Registration.js';
import type {
  OutgoingRegister,
  RegisterResponse,
  RegistrationTransport,
} from '../../sip/registration/types.js';
import type { TransportProtocol } from '../../sip/index.js';
import { testCerts } from '../helpers/certs.js';
import { startKamailio, type Kamailio } from '../helpers/kamailio.js';
import { stopAll } from '../helpers/processes.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c();
  }
  await stopAll();
});

/** The stack's registration transport, recording what went out and what came back. */
interface Recorded extends RegistrationTransport {
  /** REGISTERs as sent by the registration client (before Via/Max-Forwards). */
  readonly sent: OutgoingRegister[];
  readonly received: RegisterResponse[];
  readonly counters: SipCounters;
  readonly layer: TransportLayer;
  /** CRLF keep-alives written. */
  readonly keepAlives: { count: number };
  stop(): Promise<void>;
}

async function stackTransport(k: Kamailio, host = '127.0.0.1'): Promise<Recorded> {
  const certs = await testCerts();
  const counters = newCounters();
  const transport = new TransportLayer({
    listen: [
      { transport: 'udp', host, port: 0 },
      { transport: 'tcp', host, port: 0 },
      { transport: 'tls', host, port: 0, certFile: certs.serverCert, keyFile: certs.serverKey },
    ],
    clock: systemClock,
    logger: silentLogger,
    counters,
    tls: { caFile: k.certs.caCert, verify: true },
  });
  // short T1 so that a dead UDP registrar is noticed within 64·T1 = 3.2 s
  const transactions = new TransactionLayer(
    transport,
    { clock: systemClock, logger: silentLogger, counters, timers: { t1: 50, t2: 400 } },
    { onRequest: () => undefined },
  );
  await transport.start();
  const inner = createStackRegistrationTransport(transactions);
  const sent: OutgoingRegister[] = [];
  const received: RegisterResponse[] = [];
  const keepAlives = { count: 0 };

  return {
    sent,
    received,
    sendRegister: async (req) => {
      sent.push(req);
      const res = await inner.sendRegister(req);
      received.push(res);

      return res;
    },
    localContact: (target, t) => inner.localContact(target, t),
    keepAlives,
    keepAlive: (target, t) => {
      keepAlives.count++;

      return inner.keepAlive?.(target, t) ?? Promise.resolve();
    },
    onFlowClosed: (target, t, l) => inner.onFlowClosed?.(target, t, l) ?? (() => undefined),
    counters,
    layer: transport,
    stop: () => transport.stop(),
  };
}

function sentHeader(req: OutgoingRegister | undefined, name: string): string | undefined {
  return req?.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

interface Harness {
  reg: Registration;
  transport: Recorded;
  seen: RegistrationStatus[];
  /** Resolves with the first status (from now on, or the current one) that matches. */
  until(pred: (s: RegistrationStatus) => boolean, timeoutMs?: number): Promise<RegistrationStatus>;
}

async function harness(
  k: Kamailio,
  t: TransportProtocol,
  account: Partial<RegistrationAccount> = {},
  options: Partial<RegistrationOptions> = {},
): Promise<Harness> {
  const transport = await stackTransport(k);
  const seen: RegistrationStatus[] = [];
  const waiters = new Set<{
    pred: (s: RegistrationStatus) => boolean;
    resolve: (s: RegistrationStatus) => void;
  }>();
  const reg = new Registration(
    {
      id: `alice-${t}`,
      // NOTE: Kamailio's uri==myself compares ports, so the registrar URI names its port.
      registrar: k.uri(t),
      username: 'alice',
      password: 'alice-secret',
      transport: t,
      expires: 60,
      ...account,
    },
    transport,
    { clock: systemClock, backoff: { baseMs: 400, maxMs: 1600 }, keepAliveMs: 2000, ...options },
    {
      onStateChange: (s) => {
        seen.push(s);
        for (const w of waiters) {
          if (w.pred(s)) {
            waiters.delete(w);
            w.resolve(s);
          }
        }
      },
    },
  );
  cleanups.push(async () => {
    await reg.stop();
    await transport.stop();
  });
  const until = (
    pred: (s: RegistrationStatus) => boolean,
    timeoutMs = 20_000,
  ): Promise<RegistrationStatus> => {
    if (pred(reg.status)) {
      return Promise.resolve(reg.status);
    }

    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      waiters.add(w);
      setTimeout(() => {
        if (waiters.delete(w)) {
          reject(
            new Error(`timeout; states seen: ${seen.map((s) => `${s.state}/${s.lastStatus}`).join(' ')}`),
          );
        }
      }, timeoutMs);
    });
  };

  return { reg, transport, seen, until };
}

describe.each(['udp', 'tcp', 'tls'] as const)('registration to Kamailio over %s', (t) => {
  let k: Kamailio;

  it('registers with digest auth, the binding is in the location table, then unregisters', async () => {
    k = await startKamailio();
    const h = await harness(k, t);
    h.reg.start();
    const s = await h.until((x) => x.state === 'registered');
    expect(s).toMatchObject({ lastStatus: 200, grantedExpires: 60, failures: 0 });
    const ul = await k.ulDump();
    expect(ul).toHaveLength(1);
    expect(ul[0]?.aor).toBe('alice');
    expect(ul[0]?.address).toBe(`<${s.contact}>`.slice(1, -1));
    if (t === 'udp') {
      expect(ul[0]?.address).not.toMatch(/transport=/);
    } else {
      // the registering connection is kept for calls back to us (Kamailio stores its source)
      expect(ul[0]?.address).toMatch(new RegExp(`;transport=${t};ob$`));
      expect(ul[0]?.received).toMatch(new RegExp(`;transport=${t}$`));
    }
    // the challenge was answered once: REGISTER → 401 → REGISTER → 200
    expect(h.transport.received.map((m) => m.status)).toEqual([401, 200]);
    await h.reg.stop();
    expect(h.reg.state).toBe('unregistered');
    expect(await k.ulDump()).toEqual([]);
  });

  it('wrong password: failed with the last code 401, and keeps retrying with backoff', async () => {
    const h = await harness(k, t, { password: 'WRONG' });
    h.reg.start();
    const s = await h.until((x) => x.state === 'failed');
    expect(s).toMatchObject({ lastStatus: 401, lastError: 'SIP_ERR_AUTH_REJECTED', failures: 1 });
    const again = await h.until((x) => x.state === 'failed' && x.failures === 2);
    expect(again.lastStatus).toBe(401);
    await h.reg.stop();
    expect(await k.ulDump()).toEqual([]);
    await k.stop();
  });
});

describe('registration to Kamailio: expiry rules', () => {
  it('refreshes before the expiry the registrar granted (10 s → refresh after 5 s)', async () => {
    const k = await startKamailio();
    const h = await harness(k, 'udp', { expires: 10 });
    h.reg.start();
    const first = await h.until((x) => x.state === 'registered');
    expect(first.grantedExpires).toBe(10);
    await h.until((x) => x.state === 'refreshing');
    const refreshed = await h.until((x) => x.state === 'registered');
    expect(refreshed.expiresAt).toBeGreaterThan(first.expiresAt ?? Infinity);
    // the refresh re-used the nonce (nc=2) and Kamailio accepted it without a new challenge
    expect(h.transport.received.map((m) => m.status)).toEqual([401, 200, 200]);
    expect(h.seen.map((x) => x.state)).toEqual(['registering', 'registered', 'refreshing', 'registered']);
    await h.reg.stop();
    await k.stop();
  });

  it('423 Interval Too Brief: registers again with Min-Expires', async () => {
    const k = await startKamailio({ minExpires: 30, rejectShortExpires: true });
    const h = await harness(k, 'tcp', { expires: 15 });
    h.reg.start();
    const s = await h.until((x) => x.state === 'registered');
    expect(s.grantedExpires).toBe(30);
    const codes = h.transport.received.map((m) => m.status);
    expect(codes).toContain(423);
    const minExpires = h.transport.received.find((m) => m.status === 423)?.get('Min-Expires');
    expect(minExpires).toBe('30');
    await h.reg.stop();
    await k.stop();
  });

  it('SHA-256 digest (RFC 8760) offered by Kamailio 5.6 is answered over TLS', async () => {
    const k = await startKamailio({ algorithm: 'SHA-256' });
    const h = await harness(k, 'tls');
    h.reg.start();
    await h.until((x) => x.state === 'registered');
    const auth = sentHeader(h.transport.sent[1], 'Authorization');
    expect(auth).toMatch(/algorithm=SHA-256/);
    expect(auth).toMatch(/response="[0-9a-f]{64}"/);
    await h.reg.stop();
    await k.stop();
  });
});

describe('registration to Kamailio: registrar stopped and restarted', () => {
  it('UDP: the refresh fails while Kamailio is down (backoff), then it registers again', async () => {
    const k = await startKamailio();
    const h = await harness(k, 'udp', { expires: 10 });
    h.reg.start();
    await h.until((x) => x.state === 'registered');
    await k.stop();
    const failed = await h.until((x) => x.state === 'failed', 30_000);
    expect(failed.lastStatus).toBe(408);
    await h.until((x) => x.state === 'failed' && x.failures >= 2, 30_000);
    await k.start();
    // memory-only location table: empty until we come back
    const back = await h.until((x) => x.state === 'registered', 30_000);
    expect(back.failures).toBe(0);
    expect((await k.ulDump()).map((c) => c.aor)).toEqual(['alice']);
    await h.reg.stop();
    await k.stop();
  });

  it.each(['tcp', 'tls'] as const)(
    '%s: the closed connection triggers re-registration at once, then backoff, then recovery',
    async (t) => {
      const k = await startKamailio();
      const h = await harness(k, t, { expires: 600 });
      h.reg.start();
      await h.until((x) => x.state === 'registered');
      await k.stop();
      // no waiting for the 600 s refresh: the flow closed
      const failed = await h.until((x) => x.state === 'failed', 15_000);
      // connection refused, or (while Kamailio is still shutting down) accepted but never answered
      expect(['SIP_ERR_TRANSPORT', 'SIP_ERR_TX_TIMEOUT']).toContain(failed.lastError);
      expect(h.seen.map((x) => x.state).slice(0, 4)).toEqual([
        'registering',
        'registered',
        'registering',
        'failed',
      ]);
      await k.start();
      await h.until((x) => x.state === 'registered', 30_000);
      const ul = await k.ulDump();
      expect(ul.map((c) => c.aor)).toEqual(['alice']);
      expect(ul[0]?.received).toMatch(new RegExp(`;transport=${t}$`));
      await h.reg.stop();
      await k.stop();
    },
  );
});

describe('registration to Kamailio: flows and accounts', () => {
  it('TCP: CRLF keep-alives keep the one connection; Kamailio answers them and nothing breaks', async () => {
    const k = await startKamailio();
    const h = await harness(k, 'tcp', { expires: 600 }, { keepAliveMs: 500 });
    h.reg.start();
    await h.until((x) => x.state === 'registered');
    const before = (await k.ulDump())[0]?.received;
    // still the first registration, over the same connection, after 4 keep-alives
    await expect.poll(() => h.transport.keepAlives.count, { timeout: 20_000 }).toBeGreaterThanOrEqual(4);
    expect(h.seen.map((x) => x.state)).toEqual(['registering', 'registered']);
    expect(h.transport.layer.connectionCount).toBe(1);
    expect((await k.ulDump())[0]?.received).toBe(before);
    expect(h.transport.counters.streamFramingErrors).toBe(0);
    expect(h.transport.counters.malformedDropped).toBe(0);
    await h.reg.stop();
    await k.stop();
  });

  it('several accounts on one stack (alice over UDP, bob over TLS, 1001 over TCP), all unregistered by stopAll', async () => {
    const k = await startKamailio();
    const transport = await stackTransport(k);
    const m = new RegistrationManager(transport, { clock: systemClock });
    const accounts = [
      ['alice', 'udp'],
      ['bob', 'tls'],
      ['1001', 'tcp'],
    ] as const;
    for (const [user, t] of accounts) {
      m.add({
        id: user,
        registrar: k.uri(t),
        username: user,
        password: `${user}-secret`,
        transport: t,
        expires: 120,
      });
    }
    m.startAll();
    const deadline = Date.now() + 15_000;
    while (m.statuses().some((s) => s.state !== 'registered') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(m.statuses().map((s) => [s.accountId, s.state])).toEqual([
      ['alice', 'registered'],
      ['bob', 'registered'],
      ['1001', 'registered'],
    ]);
    const ul = await k.ulDump();
    expect(ul.map((c) => c.aor).sort()).toEqual(['1001', 'alice', 'bob']);
    expect(ul.find((c) => c.aor === 'bob')?.socket).toBe(`tls:127.0.0.1:${k.tlsPort}`);
    await m.stopAll();
    expect(m.statuses().every((s) => s.state === 'unregistered')).toBe(true);
    expect(await k.ulDump()).toEqual([]);
    await transport.stop();
    await k.stop();
  });
});

describe('registration to Kamailio over IPv6 ([::1])', () => {
  it.each(['udp', 'tcp'] as const)('%s: registers with a bracketed IPv6 Contact', async (t) => {
    const k = await startKamailio({ ipv6: true });
    const transport = await stackTransport(k, '::1');
    const reg = new Registration(
      { id: 'v6', registrar: k.uri6(t), username: 'bob', password: 'bob-secret', transport: t, expires: 60 },
      transport,
      { clock: systemClock },
    );
    reg.start();
    await expect.poll(() => reg.state, { timeout: 10_000 }).toBe('registered');
    expect(reg.status.contact).toMatch(/^sip:bob@\[::1\]:\d+/);
    const ul = await k.ulDump();
    expect(ul[0]?.address).toBe(reg.status.contact);
    expect(ul[0]?.socket).toBe(`${t}:[::1]:${k.port6 ?? 0}`);
    await reg.stop();
    expect(await k.ulDump()).toEqual([]);
    await transport.stop();
    await k.stop();
  });
});
