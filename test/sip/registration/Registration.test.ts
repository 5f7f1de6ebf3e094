import { describe, expect, it } from 'vitest';
import { DigestVerifier } from '../../../sip/auth/DigestVerifier.js';
import {
  Registration,
  type RegistrationAccount,
  type RegistrationOptions,
  type RegistrationStatus,
} from '../../../sip/registration/Registration.js';
import type { RegistrationState } from '../../../sip/registration/state.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { FakeRegistrar, settle } from './fakeRegistrar.js';

const ALICE: RegistrationAccount = {
  id: 'lab',
  registrar: 'sip:127.0.0.1:5060',
  username: 'alice',
  password: 'alice-secret',
  transport: 'udp',
};

function setup(account: Partial<RegistrationAccount> = {}, options: Partial<RegistrationOptions> = {}) {
  const clock = new FakeClock(10_000);
  const registrar = new FakeRegistrar();
  const events: { from: RegistrationState; status: RegistrationStatus }[] = [];
  const reg = new Registration(
    { ...ALICE, ...account },
    registrar,
    { clock, random: () => 0, backoff: { baseMs: 2000, maxMs: 60_000 }, ...options },
    { onStateChange: (status, from) => events.push({ from, status }) },
  );
  const verifier = new DigestVerifier({
    realm: 'sip-lab',
    clock,
    algorithms: ['MD5'],
    lookup: (u) => (u === 'alice' ? { password: 'alice-secret' } : undefined),
  });
  const path = (): string => events.map((e) => e.status.state).join(' → ');

  return { clock, registrar, reg, events, verifier, path };
}

const ok = (contact: string, expires: number) => ({
  status: 200,
  reason: 'OK',
  headers: { Contact: `<${contact}>;expires=${expires}` },
});

describe('Registration: first registration', () => {
  it('sends REGISTER, answers the 401 with digest credentials the registrar accepts, then is registered', async () => {
    const { registrar, reg, verifier, clock, path } = setup();
    reg.start();
    await settle();
    expect(reg.state).toBe('registering');
    const first = registrar.last;
    expect(first.request.uri).toBe('sip:127.0.0.1:5060');
    expect(first.request.target).toBe('sip:127.0.0.1:5060');
    expect(first.request.transport).toBe('udp');
    expect(first.header('From')).toMatch(/^<sip:alice@127\.0\.0\.1:5060>;tag=[0-9a-f]+$/);
    expect(first.header('To')).toBe('<sip:alice@127.0.0.1:5060>');
    expect(first.header('CSeq')).toBe('1 REGISTER');
    expect(first.header('Contact')).toBe('<sip:alice@127.0.0.1:5062>');
    expect(first.header('Expires')).toBe('3600');
    expect(first.header('Authorization')).toBeUndefined();

    await registrar.reply({ status: 401, headers: { 'WWW-Authenticate': verifier.challenge() } });
    const second = registrar.last;
    expect(second.header('CSeq')).toBe('2 REGISTER');
    expect(second.header('Call-ID')).toBe(first.header('Call-ID'));
    const verdict = await verifier.verify(second.all('Authorization'), {
      method: 'REGISTER',
      uri: 'sip:127.0.0.1:5060',
    });
    expect(verdict).toEqual({ ok: true, username: 'alice', algorithm: 'MD5' });

    await registrar.reply(ok('sip:alice@127.0.0.1:5062', 600));
    expect(path()).toBe('registering → registered');
    expect(reg.status).toMatchObject({
      state: 'registered',
      lastStatus: 200,
      grantedExpires: 600,
      expiresAt: clock.now() + 600_000,
      // refreshed 32 s before expiry
      nextRefreshAt: clock.now() + 568_000,
      failures: 0,
      contact: 'sip:alice@127.0.0.1:5062',
    });
  });

  it('uses the auth username, display name, domain and outbound proxy (Route) when given', async () => {
    const { registrar, reg } = setup({
      authUsername: 'alice-auth',
      displayName: 'Alice',
      domain: 'example.org',
      outboundProxy: 'sip:127.0.0.1:5070',
      transport: 'tcp',
    });
    reg.start();
    await settle();
    const r = registrar.last;
    expect(r.request.target).toBe('sip:127.0.0.1:5070');
    expect(r.header('Route')).toBe('<sip:127.0.0.1:5070;lr>');
    expect(r.header('To')).toBe('"Alice" <sip:alice@example.org>');
    // TCP: transport parameter and RFC 5626 ;ob
    expect(r.header('Contact')).toBe('<sip:alice@127.0.0.1:5062;transport=tcp;ob>');
    await registrar.reply({ status: 401, headers: { 'WWW-Authenticate': 'Digest realm="r", nonce="n"' } });
    expect(registrar.last.header('Authorization')).toMatch(/^Digest username="alice-auth", realm="r"/);
  });

  it('adds +sip.instance, reg-id and Supported: outbound with the outbound option on TCP', async () => {
    const { registrar, reg } = setup(
      { transport: 'tls' },
      { outbound: true, instanceId: 'urn:uuid:00000000-0000-0000-0000-000000000001' },
    );
    reg.start();
    await settle();
    expect(registrar.last.header('Contact')).toBe(
      '<sip:alice@127.0.0.1:5062;transport=tls;ob>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-000000000001>";reg-id=1',
    );
    expect(registrar.last.header('Supported')).toBe('outbound');
  });

  it('registers a sips: Contact with a sips: registrar, so calls to the binding stay secure (RFC 5630)', async () => {
    const { registrar, reg } = setup({ registrar: 'sips:127.0.0.1:5061', transport: undefined });
    reg.start();
    await settle();
    expect(registrar.last.request.transport).toBe('tls');
    expect(registrar.last.header('Contact')).toBe('<sips:alice@127.0.0.1:5062;ob>');
  });

  it('takes the expiry from our Contact in the 200, else from Expires, else what it asked', async () => {
    const { registrar, reg } = setup();
    reg.start();
    await settle();
    await registrar.reply({
      status: 200,
      headers: {
        Contact: ['<sip:alice@10.0.0.9:5062>;expires=3000', '<sip:alice@127.0.0.1:5062>;expires=45'],
        Expires: '999',
      },
    });
    expect(reg.status.grantedExpires).toBe(45);

    const b = setup();
    b.reg.start();
    await settle();
    await b.registrar.reply({ status: 200, headers: { Expires: '120' } });
    expect(b.reg.status.grantedExpires).toBe(120);

    const c = setup({ expires: 300 });
    c.reg.start();
    await settle();
    await c.registrar.reply({ status: 200 });
    expect(c.reg.status.grantedExpires).toBe(300);
  });
});

describe('Registration: refresh', () => {
  it('refreshes before the granted expiry, re-using the nonce with nc=2, same Call-ID, next CSeq', async () => {
    const { registrar, reg, clock, verifier, path } = setup();
    reg.start();
    await settle();
    await registrar.reply({ status: 401, headers: { 'WWW-Authenticate': verifier.challenge() } });
    await registrar.reply(ok('sip:alice@127.0.0.1:5062', 60));
    const sent = registrar.seen.length;
    clock.advance(29_999);
    await settle();
    expect(registrar.seen.length).toBe(sent);
    clock.advance(1);
    await settle();
    expect(registrar.seen.length).toBe(sent + 1);
    expect(reg.state).toBe('refreshing');
    const refresh = registrar.last;
    expect(refresh.header('CSeq')).toBe('3 REGISTER');
    expect(refresh.header('Call-ID')).toBe(registrar.seen[0]?.header('Call-ID'));
    expect(refresh.header('Authorization')).toMatch(/nc=00000002/);
    expect(await verifier.verify(refresh.all('Authorization'), { method: 'REGISTER' })).toMatchObject({
      ok: true,
    });
    await registrar.reply(ok('sip:alice@127.0.0.1:5062', 60));
    expect(path()).toBe('registering → registered → refreshing → registered');
    expect(reg.status.nextRefreshAt).toBe(clock.now() + 30_000);
  });

  it('423 Interval Too Brief: retries at once with the Min-Expires value, and keeps it', async () => {
    const { registrar, reg, clock } = setup({ expires: 30 });
    reg.start();
    await settle();
    await registrar.reply({ status: 423, reason: 'Interval Too Brief', headers: { 'Min-Expires': '120' } });
    expect(reg.state).toBe('registering');
    expect(registrar.last.header('Expires')).toBe('120');
    await registrar.reply({ status: 200, headers: { Expires: '120' } });
    expect(reg.state).toBe('registered');
    clock.advance(88_000);
    await settle();
    expect(registrar.last.header('Expires')).toBe('120');
  });

  it('a stale nonce on refresh is answered again without counting as a failure', async () => {
    const { registrar, reg, clock, path } = setup();
    reg.start();
    await settle();
    await registrar.reply({
      status: 401,
      headers: { 'WWW-Authenticate': 'Digest realm="r", nonce="n1", qop="auth"' },
    });
    await registrar.reply(ok('sip:alice@127.0.0.1:5062', 60));
    clock.advance(30_000);
    await settle();
    await registrar.reply({
      status: 401,
      headers: { 'WWW-Authenticate': 'Digest realm="r", nonce="n2", qop="auth", stale=true' },
    });
    expect(registrar.last.header('Authorization')).toMatch(/nonce="n2".*nc=00000001/);
    await registrar.reply(ok('sip:alice@127.0.0.1:5062', 60));
    expect(path()).toBe('registering → registered → refreshing → registered');
    expect(reg.status.failures).toBe(0);
  });
});

describe('Registration: failures and backoff', () => {
  it('wrong password: 401 after credentials → failed with the last code, retried later', async () => {
    const { registrar, reg, clock, path } = setup({ password: 'WRONG' });
    reg.start();
    await settle();
    await registrar.reply({ status: 401, headers: { 'WWW-Authenticate': 'Digest realm="r", nonce="n1"' } });
    await registrar.reply({
      status: 401,
      reason: 'Unauthorized',
      headers: { 'WWW-Authenticate': 'Digest realm="r", nonce="n2"' },
    });
    expect(path()).toBe('registering → failed');
    expect(reg.status).toMatchObject({
      state: 'failed',
      lastStatus: 401,
      lastError: 'SIP_ERR_AUTH_REJECTED',
      failures: 1,
      // random() = 0: lower half of the first backoff step (2 s)
      nextAttemptAt: clock.now() + 1000,
    });
    expect(registrar.pending).toBe(0);
    clock.advance(1000);
    await settle();
    expect(reg.state).toBe('registering');
    expect(registrar.pending).toBe(1);
  });

  it('backs off exponentially while the registrar is unreachable, then recovers at once', async () => {
    const { registrar, reg, clock } = setup();
    reg.start();
    await settle();
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      await registrar.fail(i % 2 === 0 ? 'SIP_ERR_TRANSPORT' : 'SIP_ERR_TX_TIMEOUT');
      expect(reg.state).toBe('failed');
      const wait = (reg.status.nextAttemptAt ?? 0) - clock.now();
      waits.push(wait);
      clock.advance(wait);
      await settle();
    }
    // base 2 s doubling, capped at 60 s, jitter at its minimum (half)
    expect(waits).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    expect(reg.status.failures).toBe(7);
    await registrar.reply(ok('sip:alice@127.0.0.1:5062', 60));
    expect(reg.status).toMatchObject({ state: 'registered', failures: 0, lastStatus: 200 });
  });

  it('reports a timeout as 408 and a transport error as 503 with their codes', async () => {
    const { registrar, reg, clock } = setup();
    reg.start();
    await settle();
    await registrar.fail('SIP_ERR_TX_TIMEOUT', 'Timer F');
    expect(reg.status).toMatchObject({ lastStatus: 408, lastError: 'SIP_ERR_TX_TIMEOUT' });
    clock.advance(1000);
    await settle();
    await registrar.fail('SIP_ERR_TRANSPORT', 'ECONNREFUSED');
    expect(reg.status).toMatchObject({ lastStatus: 503, lastError: 'SIP_ERR_TRANSPORT' });
    expect(reg.status.lastReason).toContain('ECONNREFUSED');
  });

  it('retryNow() skips the backoff wait (only in failed)', async () => {
    const { registrar, reg } = setup();
    expect(reg.retryNow()).toBe(false);
    reg.start();
    await settle();
    await registrar.fail('SIP_ERR_TRANSPORT');
    expect(reg.retryNow()).toBe(true);
    await settle();
    expect(reg.state).toBe('registering');
    expect(registrar.pending).toBe(1);
    await registrar.reply(ok('sip:alice@127.0.0.1:5062', 60));
    expect(reg.status.failures).toBe(0);
  });

  it('uses Retry-After of a 503 as the wait', async () => {
    const { registrar, reg, clock } = setup();
    reg.start();
    await settle();
    await registrar.reply({ status: 503, reason: 'Service Unavailable', headers: { 'Retry-After': '7' } });
    expect(reg.status).toMatchObject({ state: 'failed', lastStatus: 503, nextAttemptAt: clock.now() + 7000 });
  });

  it('jitter spreads the wait over the upper half of each step', async () => {
    const { registrar, reg, clock } = setup({}, { random: () => 0.999 });
    reg.start();
    await settle();
    await registrar.fail('SIP_ERR_TRANSPORT');
    expect((reg.status.nextAttemptAt ?? 0) - clock.now()).toBe(1999);
  });

  it('a failed refresh moves to failed and backs off', async () => {
    const { registrar, reg, clock, path } = setup();
    reg.start();
    await settle();
    await registrar.reply(ok('sip:alice@127.0.0.1:5062', 60));
    clock.advance(30_000);
    await settle();
    await registrar.reply({ status: 403, reason: 'Forbidden' });
    expect(path()).toBe('registering → registered → refreshing → failed');
    expect(reg.status).toMatchObject({ lastStatus: 403, lastReason: 'Forbidden' });
    expect(reg.status.expiresAt).toBeUndefined();
  });
});

describe('Registration: TCP/TLS flows', () => {
  it('sends CRLF keep-alives while registered and re-registers at once when the flow closes', async () => {
    const { registrar, reg, clock, path } = setup({ transport: 'tcp' }, { keepAliveMs: 25_000 });
    reg.start();
    await settle();
    await registrar.reply(ok('sip:alice@127.0.0.1:5062;transport=tcp;ob', 600));
    expect(registrar.flowListeners).toBe(1);
    clock.advance(75_000);
    expect(registrar.keepAlives).toEqual(['sip:127.0.0.1:5060', 'sip:127.0.0.1:5060', 'sip:127.0.0.1:5060']);
    registrar.closeFlow();
    await settle();
    expect(reg.state).toBe('registering');
    expect(registrar.pending).toBe(1);
    // the connection is gone: the new attempt fails, backoff, then the registrar is back
    await registrar.fail('SIP_ERR_TRANSPORT');
    clock.advance(1000);
    await settle();
    await registrar.reply(ok('sip:alice@127.0.0.1:5062;transport=tcp;ob', 600));
    expect(path()).toBe('registering → registered → registering → failed → registering → registered');
    // keep-alives stopped while failed, and started again after
    const count = registrar.keepAlives.length;
    clock.advance(25_000);
    expect(registrar.keepAlives.length).toBe(count + 1);
  });

  it('a failing keep-alive counts as a lost flow', async () => {
    const { registrar, reg, clock } = setup({ transport: 'tls' }, { keepAliveMs: 10_000 });
    reg.start();
    await settle();
    await registrar.reply(ok('sip:alice@127.0.0.1:5062;transport=tls;ob', 600));
    registrar.keepAliveFails = true;
    clock.advance(10_000);
    await settle();
    expect(reg.state).toBe('registering');
  });

  it('UDP registrations have no keep-alive and no flow watch', async () => {
    const { registrar, reg, clock } = setup();
    reg.start();
    await settle();
    await registrar.reply(ok('sip:alice@127.0.0.1:5062', 600));
    clock.advance(120_000);
    expect(registrar.keepAlives).toEqual([]);
    expect(registrar.flowListeners).toBe(0);
  });
});

describe('Registration: stop', () => {
  it('unregisters with Expires: 0 (answering the challenge) and ends unregistered', async () => {
    const { registrar, reg, clock, path } = setup();
    reg.start();
    await settle();
    await registrar.reply(ok('sip:alice@127.0.0.1:5062', 600));
    const stopped = reg.stop();
    await settle();
    expect(reg.state).toBe('unregistering');
    expect(registrar.last.header('Expires')).toBe('0');
    expect(registrar.last.header('Contact')).toBe('<sip:alice@127.0.0.1:5062>;expires=0');
    await registrar.reply({ status: 401, headers: { 'WWW-Authenticate': 'Digest realm="r", nonce="n"' } });
    expect(registrar.last.header('Authorization')).toMatch(/^Digest /);
    await registrar.reply({ status: 200 });
    await stopped;
    expect(path()).toBe('registering → registered → unregistering → unregistered');
    // no timer is left behind
    expect(clock.pending).toBe(0);
  });

  it('from failed: no REGISTER, straight to unregistered; stop() twice is harmless', async () => {
    const { registrar, reg, clock } = setup();
    reg.start();
    await settle();
    await registrar.fail('SIP_ERR_TRANSPORT');
    await Promise.all([reg.stop(), reg.stop()]);
    expect(reg.state).toBe('unregistered');
    expect(registrar.seen).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });

  it('from failed while the old binding may still live: unregisters it', async () => {
    const { registrar, reg, clock } = setup();
    reg.start();
    await settle();
    await registrar.reply(ok('sip:alice@127.0.0.1:5062', 60));
    clock.advance(30_000);
    await settle();
    await registrar.reply({ status: 500, reason: 'Server Internal Error' });
    expect(reg.state).toBe('failed');
    const stopped = reg.stop();
    await settle();
    expect(reg.state).toBe('unregistering');
    expect(registrar.last.header('Expires')).toBe('0');
    await registrar.reply({ status: 200 });
    await stopped;
    expect(reg.state).toBe('unregistered');
  });

  it('does not wait for ever for the unregistration (bounded by unregisterTimeoutMs)', async () => {
    const { registrar, reg, clock } = setup({}, { unregisterTimeoutMs: 3000 });
    reg.start();
    await settle();
    await registrar.reply(ok('sip:alice@127.0.0.1:5062', 60));
    let done = false;
    const stopped = reg.stop().then(() => {
      done = true;
    });
    await settle();
    clock.advance(2999);
    await settle();
    expect(done).toBe(false);
    clock.advance(1);
    await stopped;
    expect(reg.status).toMatchObject({
      state: 'unregistered',
      lastStatus: 408,
      lastError: 'SIP_ERR_TX_TIMEOUT',
    });
    // a late answer changes nothing
    await registrar.reply({ status: 200 });
    expect(reg.state).toBe('unregistered');
    expect(clock.pending).toBe(0);
  });

  it('stop() during the first REGISTER ignores its late answer and unregisters', async () => {
    const { registrar, reg } = setup();
    reg.start();
    await settle();
    const stopped = reg.stop();
    await settle();
    // the late 200 to the first REGISTER, then the answer to the unregister
    await registrar.reply(ok('sip:alice@127.0.0.1:5062', 600));
    await registrar.reply({ status: 200 });
    await stopped;
    expect(reg.state).toBe('unregistered');
    expect(registrar.seen.map((s) => s.header('Expires'))).toEqual(['3600', '0']);
  });

  it('can start again after stop', async () => {
    const { registrar, reg } = setup();
    reg.start();
    await settle();
    await registrar.fail('SIP_ERR_TRANSPORT');
    await reg.stop();
    reg.start();
    await settle();
    expect(reg.state).toBe('registering');
  });

  it('rejects an account without a sip: registrar', () => {
    expect(() => setup({ registrar: 'http://x' })).toThrow(
      expect.objectContaining({ code: 'SIP_ERR_REG_ACCOUNT' }) as Error,
    );
  });
});

describe('Registration: transport from the URI', () => {
  it.each([
    ['sip:127.0.0.1', undefined, 'udp'],
    ['sip:127.0.0.1;transport=tcp', undefined, 'tcp'],
    ['sip:127.0.0.1:5061;transport=TLS', undefined, 'tls'],
    ['sips:example.org', undefined, 'tls'],
    ['sip:registrar.example.org', 'sip:127.0.0.1:5070;transport=tcp', 'tcp'],
  ] as const)('registrar %s, outbound proxy %s → %s', async (registrar, outboundProxy, expected) => {
    const { reg, registrar: fake } = setup({
      registrar,
      transport: undefined,
      ...(outboundProxy !== undefined ? { outboundProxy } : {}),
    });
    expect(reg.transportName).toBe(expected);
    reg.start();
    await settle();
    expect(fake.last.request.transport).toBe(expected);
  });
});
