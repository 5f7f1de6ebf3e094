/**
 * TLS and IPv6 on real sockets: Node's own `tls` client talks SIP to our TLS listener (server
 * certificate verified against the test CA); our UAC dials our UAS over TLS (`sips:`), verifying
 * the server against a CA file, and fails cleanly without it; UAC → UAS calls over IPv6 (::1)
 * on UDP and TCP, with connection reuse for the in-dialog requests.
 */
import { connect } from 'node:tls';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CallRejectedError, SipStack, parseMessage, type SipResponse } from '../../sip/index.js';
import { testCerts } from '../helpers/certs.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';
import { startAnswerer, type Answerer } from '../sip/support/answerer.js';

let uas: Answerer | undefined;
const stacks: SipStack[] = [];

afterEach(async () => {
  await uas?.stop();
  uas = undefined;
  await Promise.all(stacks.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await stopAll();
});

async function caller(host: string, tls?: { caFile?: string; verify?: boolean }): Promise<SipStack> {
  const port = await freePort(host);
  const s = new SipStack({
    listen: [
      { transport: 'udp', host, port },
      { transport: 'tcp', host, port },
    ],
    ...(tls ? { tls } : {}),
  });
  await s.start();
  stacks.push(s);
  return s;
}

/** Sends raw SIP over a Node TLS socket and collects responses until `count` arrived. */
async function tlsExchange(port: number, ca: string, text: string, count: number): Promise<SipResponse[]> {
  const { readFileSync } = await import('node:fs');
  return await new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port, ca: readFileSync(ca), servername: 'localhost' }, () => {
      sock.write(text);
    });
    let buf = Buffer.alloc(0);
    const out: SipResponse[] = [];
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) {
          break;
        }
        const len = Number(/content-length:\s*(\d+)/i.exec(buf.toString('latin1', 0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + len) {
          break;
        }
        out.push(parseMessage(buf.subarray(0, end + 4 + len)) as SipResponse);
        buf = buf.subarray(end + 4 + len);
      }
      if (out.length >= count) {
        sock.end();
        resolve(out);
      }
    });
    sock.on('error', reject);
  });
}

describe('TLS', () => {
  it('Node tls client: OPTIONS over TLS gets 200 on the same connection', async () => {
    const certs = await testCerts();
    uas = await startAnswerer({ tls: { certFile: certs.serverCert, keyFile: certs.serverKey } });
    const options = [
      `OPTIONS sip:alice@127.0.0.1:${uas.tlsPort};transport=tls SIP/2.0`,
      'Via: SIP/2.0/TLS client.example:1;branch=z9hG4bKtls1;rport',
      'From: <sip:node@127.0.0.1>;tag=n1',
      'To: <sip:alice@127.0.0.1>',
      'Call-ID: tls-options-1',
      'CSeq: 1 OPTIONS',
      'Max-Forwards: 70',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    const [res] = await tlsExchange(uas.tlsPort!, certs.caCert, options, 1);
    expect(res?.status).toBe(200);
    expect(res?.via?.params.get('received')).toBe('127.0.0.1');
    expect(res?.via?.params.get('rport')).toMatch(/^[0-9]+$/);
    expect(res?.get('allow')).toContain('INVITE');
  });

  it('our UAC dials sips: with CA verification, the call completes and BYE ends it', async () => {
    const certs = await testCerts();
    uas = await startAnswerer({ tls: { certFile: certs.serverCert, keyFile: certs.serverKey } });
    const uac = await caller('127.0.0.1', { caFile: certs.caCert, verify: true });
    const call = uac.dial({
      to: `sips:alice@localhost:${uas.tlsPort}`,
      target: `sips:127.0.0.1:${uas.tlsPort}`,
      local: { address: '127.0.0.1', port: 41000 },
    });
    const remote = await call.answered;
    expect(remote).toMatchObject({ address: '127.0.0.1', codec: 'PCMU' });
    expect(uas.calls[0]?.call.transport).toBe('tls');
    await call.hangup();
    expect(await uas.calls[0]?.ended).toBe('bye-remote');
  });

  it('refuses a server certificate it cannot verify (system store only)', async () => {
    const certs = await testCerts();
    uas = await startAnswerer({ tls: { certFile: certs.serverCert, keyFile: certs.serverKey } });
    const uac = await caller('127.0.0.1');
    const call = uac.dial({
      to: `sips:alice@127.0.0.1:${uas.tlsPort}`,
      local: { address: '127.0.0.1', port: 41000 },
    });
    await expect(call.answered).rejects.toBeInstanceOf(CallRejectedError);
    await expect(call.answered).rejects.toMatchObject({ status: 503 });
    expect(call.endReason).toBe('transport-error');
    expect(uas.calls).toHaveLength(0);
  });

  it('connects without verification when told not to verify', async () => {
    const certs = await testCerts();
    uas = await startAnswerer({ tls: { certFile: certs.serverCert, keyFile: certs.serverKey } });
    const uac = await caller('127.0.0.1', { verify: false });
    const call = uac.dial({
      to: `sips:alice@127.0.0.1:${uas.tlsPort}`,
      local: { address: '127.0.0.1', port: 41000 },
    });
    await call.answered;
    await call.hangup();
    expect(await uas.calls[0]?.ended).toBe('bye-remote');
  });
});

describe.each(['udp', 'tcp'] as const)('IPv6 (::1) over %s', (transport) => {
  it('UAC → UAS call with an IPv6 SDP; BYE from the callee reaches the caller', async () => {
    uas = await startAnswerer({ host: '::1' });
    const uac = await caller('::1');
    const ended = new Promise<string>((resolve) => {
      const call = uac.dial({
        to: `sip:alice@[::1]:${uas!.port};transport=${transport}`,
        local: { address: '::1', port: 41000 },
      });
      call.on('ended', resolve);
      void call.answered.then(async (remote) => {
        expect(remote).toMatchObject({ address: '::1', codec: 'PCMU' });
        await new Promise((r) => setTimeout(r, 100));
        await uas!.calls[0]?.call.hangup();
      });
    });
    expect(await ended).toBe('bye-remote');
    expect(uas.calls[0]?.call.source.address).toBe('::1');
    expect(uas.calls[0]?.call.offer?.address).toBe('::1');
    if (transport === 'tcp') {
      // The BYE went over the caller's connection (RFC 3261 §18 reuse): one connection each way at most.
      expect(uas.stack.transport.connectionCount).toBeLessThanOrEqual(1);
    }
  });
});
