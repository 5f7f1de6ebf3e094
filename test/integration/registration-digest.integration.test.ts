// The digest client against a real registrar, independently of the SIP transport layer: REGISTERs
// are written by hand on a UDP socket here, and only the Authorization header comes from
// sip/auth's DigestClient. Kamailio 5.6 challenges with MD5 (qop=auth) by default and with
// SHA-256 (RFC 8760) when its auth module is told so; it verifies the response itself. Then the
// whole registration client against a second registrar implementation (SIPp registrar.xml).
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, describe, expect, it } from 'vitest';
import { DigestClient } from '../../sip/auth/DigestClient.js';
import { systemClock } from '../../lib/clock.js';
import { Registration } from '../../sip/registration/Registration.js';
import { createStackRegistrationTransport } from '../../sip/registration/stackTransport.js';
import { SipStack } from '../../sip/ua/SipStack.js';
import { startKamailio, type Kamailio } from '../helpers/kamailio.js';
import { stopAll } from '../helpers/processes.js';
import { sippServer } from '../helpers/sipp.js';

afterAll(stopAll);

interface Reply {
  status: number;
  challenges: string[];
}

async function exchange(sock: Socket, k: Kamailio, text: string): Promise<Reply> {
  const reply = new Promise<Reply>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no response from Kamailio')), 5000);
    sock.once('message', (msg) => {
      clearTimeout(timer);
      const s = msg.toString('utf8');
      resolve({
        status: Number(/^SIP\/2\.0 (\d{3})/.exec(s)?.[1]),
        challenges: [...s.matchAll(/^WWW-Authenticate:\s*(.*)\r$/gim)].map((m) => m[1] ?? ''),
      });
    });
  });
  sock.send(text, k.port, '127.0.0.1');

  return await reply;
}

function register(uri: string, port: number, user: string, cseq: number, auth: string[]): string {
  return [
    `REGISTER ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-digest-${cseq};rport`,
    'Max-Forwards: 70',
    `From: <sip:${user}@127.0.0.1>;tag=digest1`,
    `To: <sip:${user}@127.0.0.1>`,
    'Call-ID: digest-integration-1',
    `CSeq: ${cseq} REGISTER`,
    `Contact: <sip:${user}@127.0.0.1:${port}>`,
    'Expires: 60',
    ...auth.map((a) => `Authorization: ${a}`),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

async function registerWith(k: Kamailio, user: string, password: string) {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const port = sock.address().port;
  // NOTE: Kamailio's uri==myself compares ports, so the Request-URI names its port.
  const uri = `sip:127.0.0.1:${k.port}`;
  const req = (cseq: number, auth: string[]): string => register(uri, port, user, cseq, auth);
  const client = new DigestClient({ username: user, password });
  const first = await exchange(sock, k, req(1, []));
  const outcome = client.respond(first.status, first.challenges, { method: 'REGISTER', uri });
  const headers = outcome.kind === 'retry' ? outcome.headers.map((h) => h.value) : [];
  const second = await exchange(sock, k, req(2, headers));
  const third =
    second.status === 401
      ? client.respond(second.status, second.challenges, { method: 'REGISTER', uri })
      : undefined;
  sock.close();

  return { first, headers, second, third };
}

describe('DigestClient against Kamailio', () => {
  it('MD5, qop=auth: Kamailio accepts the credentials (401 → 200)', async () => {
    const k = await startKamailio();
    const r = await registerWith(k, 'alice', 'alice-secret');
    expect(r.first.status).toBe(401);
    expect(r.first.challenges[0]).toMatch(/qop="auth"/);
    expect(r.headers[0]).toMatch(/qop=auth, nc=00000001$/);
    expect(r.second.status).toBe(200);
    expect((await k.ulDump()).map((c) => c.aor)).toEqual(['alice']);
    await k.stop();
  });

  it('SHA-256 (RFC 8760): Kamailio accepts the credentials (401 → 200)', async () => {
    const k = await startKamailio({ algorithm: 'SHA-256' });
    const r = await registerWith(k, 'bob', 'bob-secret');
    expect(r.first.challenges[0]).toMatch(/algorithm=SHA-256/);
    expect(r.headers[0]).toMatch(/algorithm=SHA-256/);
    expect(r.headers[0]).toMatch(/response="[0-9a-f]{64}"/);
    expect(r.second.status).toBe(200);
    await k.stop();
  });

  it('no qop (RFC 2069 form): accepted', async () => {
    const k = await startKamailio({ noQop: true });
    const r = await registerWith(k, '1001', '1001-secret');
    expect(r.first.challenges[0]).not.toMatch(/qop/);
    expect(r.headers[0]).not.toMatch(/nc=/);
    expect(r.second.status).toBe(200);
    await k.stop();
  });

  it('wrong password: Kamailio challenges again and the client reports it as rejected', async () => {
    const k = await startKamailio({ algorithm: 'SHA-256' });
    const r = await registerWith(k, 'alice', 'WRONG');
    expect(r.second.status).toBe(401);
    expect(r.third?.kind).toBe('rejected');
    expect(await k.ulDump()).toEqual([]);
    await k.stop();
  });
});

// A second, independent registrar: SIPp's registrar.xml challenges (MD5, qop=auth) and checks the
// answer with its own `verifyauth`, then answers 200 (echoing Contact/Expires) or 403.
describe('Registration against the SIPp registrar scenario', () => {
  it.each([
    ['alice-secret', 'registered', 200],
    ['WRONG', 'failed', 403],
  ] as const)('password %s → %s (%i)', async (password, state, status) => {
    const sipp = await sippServer('registrar.xml', {
      transport: 'udp',
      calls: 1,
      extraArgs: ['-key', 'user', 'alice', '-key', 'pass', 'alice-secret', '-key', 'realm', 'sipp-lab'],
    });
    const stack = new SipStack({ listen: [{ transport: 'udp', host: '127.0.0.1', port: 0 }] });
    await stack.start();
    const reg = new Registration(
      {
        id: 'sipp',
        registrar: `sip:127.0.0.1:${sipp.port}`,
        username: 'alice',
        password,
        expires: 120,
      },
      createStackRegistrationTransport(stack.transactions),
      { clock: systemClock, backoff: { baseMs: 60_000, maxMs: 60_000 } },
    );
    reg.start();
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (reg.state === 'registered' || reg.state === 'failed') {
          clearInterval(poll);
          resolve();
        }
      }, 20);
    });
    expect(reg.status).toMatchObject({ state, lastStatus: status });
    if (state === 'registered') {
      expect(reg.status.grantedExpires).toBe(120);
    }
    const done = await sipp.finish();
    expect(done.messages).toMatch(/^REGISTER sip:127\.0\.0\.1:\d+ SIP\/2\.0/m);
    expect(done.messages).toMatch(/^Authorization: Digest username="alice", realm="sipp-lab"/m);
    await stack.stop();
  });
});
