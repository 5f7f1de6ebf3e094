// Proves the registration test harness against real peers: the Kamailio helper (free ports, digest
// users, restart, ul.dump), the throw-away certificates (Kamailio TLS, baresip TLS) and the baresip
// helpers (caller, registered auto-answer callee), each checked with SIPp.
import { afterAll, describe, expect, it } from 'vitest';
import { baresipCall, baresipUa } from '../helpers/baresip.js';
import { startKamailio, type Kamailio } from '../helpers/kamailio.js';
import { stopAll } from '../helpers/processes.js';
import { sippCall, sippServer } from '../helpers/sipp.js';

afterAll(stopAll);

function register(k: Kamailio, transport: 'udp' | 'tcp', user: string, password: string, expires = 60) {
  return sippCall(`127.0.0.1:${k.port}`, 'reg_client.xml', {
    transport,
    user,
    timeoutS: 10,
    extraArgs: [
      '-au', user, '-ap', password,
      '-key', 'contact_uri', `sip:${user}@127.0.0.1:5999;transport=${transport}`,
      '-key', 'expires', String(expires),
    ], // prettier-ignore
  });
}

describe('Kamailio helper', () => {
  let k: Kamailio;

  it('starts on free ports; SIPp registers alice over UDP and bob over TCP (401 then 200)', async () => {
    k = await startKamailio();
    const udp = await register(k, 'udp', 'alice', 'alice-secret');
    expect(udp.code, udp.output).toBe(0);
    expect(udp.responses).toEqual([401, 200]);
    const tcp = await register(k, 'tcp', 'bob', 'bob-secret', 120);
    expect(tcp.code, tcp.output).toBe(0);
    const ul = await k.ulDump();
    expect(ul).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          aor: 'alice',
          address: 'sip:alice@127.0.0.1:5999;transport=udp',
        }),
        expect.objectContaining({ aor: 'bob', address: 'sip:bob@127.0.0.1:5999;transport=tcp' }),
      ]),
    );
    // ul.dump shows the seconds left of the 60 granted
    expect(ul.find((c) => c.aor === 'alice')?.expires).toBeGreaterThan(50);
    expect(ul.find((c) => c.aor === 'alice')?.expires).toBeLessThanOrEqual(60);
    // over TCP Kamailio stores the source of the REGISTER (the connection SIPp opened)
    expect(ul.find((c) => c.aor === 'bob')?.received).toMatch(/^sip:127\.0\.0\.1:\d+;transport=tcp$/);
  });

  it('refuses a wrong password (401 again)', async () => {
    const bad = await register(k, 'udp', 'alice', 'WRONG');
    expect(bad.code).not.toBe(0);
    // (SIPp may log a retransmitted 401 too)
    expect(bad.responses[0]).toBe(401);
    expect(bad.responses.slice(1)).toContain(401);
    expect(bad.responses).not.toContain(200);
  });

  it('restart() comes back on the same ports with an empty location table', async () => {
    await k.restart();
    expect(await k.ulDump()).toEqual([]);
    const again = await register(k, 'udp', 'alice', 'alice-secret');
    expect(again.responses).toEqual([401, 200]);
    await k.stop();
  });

  it('offers SHA-256 challenges when asked (RFC 8760), which Debian SIPp cannot answer', async () => {
    const sha = await startKamailio({ algorithm: 'SHA-256' });
    const r = await register(sha, 'udp', 'alice', 'alice-secret');
    expect(r.messages).toMatch(
      /WWW-Authenticate: Digest realm="sip-lab", nonce="[^"]+", qop="auth", algorithm=SHA-256/,
    );
    await sha.stop();
  });
});

describe('baresip helpers', () => {
  it('baresip (caller) calls a SIPp callee directly over UDP and receives audio', async () => {
    const uas = await sippServer('uas.xml', { transport: 'udp', calls: 1 });
    const call = await baresipCall(`sip:alice@127.0.0.1:${uas.port}`, { transport: 'udp', maxSeconds: 10 });
    await uas.finish();
    expect(call.established, call.log.slice(-2000)).toBe(true);
    expect(call.receivedSeconds).toBeGreaterThan(1);
  });

  it.each(['udp', 'tls'] as const)(
    'baresip registered as bob over %s (auto-answer) is reached by SIPp through Kamailio',
    async (transport) => {
      const k = await startKamailio();
      const registrar = `127.0.0.1:${transport === 'tls' ? k.tlsPort : k.port}`;
      const ua = await baresipUa({ user: 'bob', password: 'bob-secret', registrar }, { transport });
      const ul = await k.ulDump();
      expect(ul.map((c) => c.aor)).toContain('bob');
      const call = await sippCall(`127.0.0.1:${k.port}`, 'uac_call.xml', { user: 'bob', durationMs: 1500 });
      expect(call.code, call.messages.slice(-3000)).toBe(0);
      expect(call.responses).toContain(200);
      await ua.stop();
      await k.stop();
    },
  );
});
