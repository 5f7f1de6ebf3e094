// The registration client over the real transaction and transport layers, in memory (fake UDP
// socket, in-memory TCP duplex, FakeClock): what goes on the wire, Timer E/F, keep-alives, closure.
import { describe, expect, it } from 'vitest';
import { DigestVerifier } from '../../../sip/auth/DigestVerifier.js';
import { parseMessage } from '../../../sip/message/parser.js';
import type { SipMessage } from '../../../sip/message/SipMessage.js';
import { Registration, type RegistrationAccount } from '../../../sip/registration/Registration.js';
import { createStackRegistrationTransport } from '../../../sip/registration/stackTransport.js';
import type { TransportProtocol } from '../../../sip/index.js';
import { TransactionLayer } from '../../../sip/transaction/TransactionLayer.js';
import { silentLogger } from '../../../lib/logger.js';
import { duplexPair, memoryTransport } from '../support/memory.js';
import { settle } from './fakeRegistrar.js';

const REGISTRAR = { address: '127.0.0.1', port: 5060 };

function stack() {
  const mem = memoryTransport();
  const transactions = new TransactionLayer(
    mem.transport,
    { clock: mem.clock, logger: silentLogger, counters: mem.counters },
    { onRequest: () => undefined },
  );

  return { ...mem, transactions, transport: createStackRegistrationTransport(transactions) };
}

function answer(req: SipMessage, status: number, reason: string, extra: string[] = []): string {
  const lines = [
    `SIP/2.0 ${status} ${reason}`,
    ...req.getAll('via').map((v) => `Via: ${v}`),
    `From: ${req.get('from') ?? ''}`,
    `To: ${req.get('to') ?? ''};tag=reg`,
    `Call-ID: ${req.callId}`,
    `CSeq: ${req.get('cseq') ?? ''}`,
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ];

  return lines.join('\r\n');
}

const account = (t: TransportProtocol): RegistrationAccount => ({
  id: 'a',
  registrar: `sip:127.0.0.1:5060${t === 'udp' ? '' : `;transport=${t}`}`,
  username: 'alice',
  password: 'alice-secret',
  transport: t,
  expires: 120,
});

describe('Registration over the stack (in memory)', () => {
  it('UDP: REGISTER on the wire with Via rport and Max-Forwards; digest round trip; registered', async () => {
    const s = stack();
    const verifier = new DigestVerifier({
      realm: 'lab',
      clock: s.clock,
      lookup: () => ({ password: 'alice-secret' }),
    });
    const reg = new Registration(account('udp'), s.transport, { clock: s.clock });
    reg.start();
    await settle();
    const [first] = s.udp.messages();
    expect(first?.sentTo).toEqual(REGISTRAR);
    expect(first?.kind === 'request' && first.startLine()).toBe('REGISTER sip:127.0.0.1:5060 SIP/2.0');
    expect(first?.get('via')).toMatch(/^SIP\/2\.0\/UDP 127\.0\.0\.1:5062;branch=z9hG4bK[^;]+;rport$/);
    expect(first?.get('max-forwards')).toBe('70');
    expect(first?.get('contact')).toBe('<sip:alice@127.0.0.1:5062>');
    expect(first?.get('content-length')).toBe('0');
    s.udp.deliver(
      answer(
        first as SipMessage,
        401,
        'Unauthorized',
        verifier.challenge().map((c) => `WWW-Authenticate: ${c}`),
      ),
      REGISTRAR,
    );
    await settle();
    const [second] = s.udp.messages();
    expect(second?.get('cseq')).toBe('2 REGISTER');
    expect(
      await verifier.verify(second?.getAll('authorization') ?? [], { method: 'REGISTER' }),
    ).toMatchObject({
      ok: true,
      algorithm: 'SHA-256',
    });
    s.udp.deliver(
      answer(second as SipMessage, 200, 'OK', ['Contact: <sip:alice@127.0.0.1:5062>;expires=120']),
      REGISTRAR,
    );
    await settle();
    expect(reg.status).toMatchObject({ state: 'registered', grantedExpires: 120 });
  });

  it('UDP: retransmits (Timer E) and reports Timer F as 408 SIP_ERR_TX_TIMEOUT', async () => {
    const s = stack();
    const reg = new Registration(account('udp'), s.transport, { clock: s.clock, random: () => 0 });
    reg.start();
    await settle();
    s.clock.advance(500 + 1000 + 2000);
    expect(s.udp.messages()).toHaveLength(4);
    s.clock.advance(32_000);
    await settle();
    expect(reg.status).toMatchObject({ state: 'failed', lastStatus: 408, lastError: 'SIP_ERR_TX_TIMEOUT' });
  });

  it('TCP: uses the open connection, sends CRLF keep-alives on it, re-registers when it closes', async () => {
    const s = stack();
    const [ours, theirs] = duplexPair();
    // the registrar connection, as if it had been connected before
    s.transactions.transport.attachStream(ours, 'tcp', { address: '127.0.0.1', port: 40000 }, REGISTRAR);
    const wire: string[] = [];
    theirs.on('data', (chunk: Buffer) => wire.push(chunk.toString('latin1')));
    // NOTE: once the connection is gone the stack would dial a real socket; a unit test must not,
    // so the next attempt's localContact() is refused here instead.
    let closed = false;
    const transport = {
      ...s.transport,
      localContact: (target: string, t: TransportProtocol) =>
        closed
          ? Promise.reject(Object.assign(new Error('refused'), { code: 'SIP_ERR_TRANSPORT' }))
          : s.transport.localContact(target, t),
    };
    const reg = new Registration(account('tcp'), transport, { clock: s.clock, keepAliveMs: 10_000 });
    reg.start();
    await settle();
    const req = parseMessage(Buffer.from(wire.shift() ?? ''));
    expect(req.get('via')).toMatch(/^SIP\/2\.0\/TCP /);
    // no listener in memory: the Contact is the connection's own address
    expect(req.get('contact')).toBe('<sip:alice@127.0.0.1:40000;transport=tcp;ob>');
    theirs.write(answer(req, 200, 'OK', ['Expires: 120']));
    await settle();
    expect(reg.state).toBe('registered');
    s.clock.advance(20_000);
    await settle();
    expect(wire).toEqual(['\r\n\r\n', '\r\n\r\n']);
    closed = true;
    ours.destroy();
    await settle();
    // the closed flow triggered a new attempt at once; with no way to reconnect in memory it fails
    expect(reg.status).toMatchObject({
      state: 'failed',
      lastStatus: 503,
      lastError: 'SIP_ERR_TRANSPORT',
      failures: 1,
    });
  });
});
