// A TLS listener configured without certFile/keyFile: the appliance generates a self-signed
// certificate into storage.dir/tls at its first start and serves SIP over TLS with it (checked
// with Node's TLS client: the certificate it presents is the file's, and an OPTIONS is answered).
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';
import { startE2e, type E2e } from './e2eHarness.js';

const envs: E2e[] = [];
afterAll(async () => {
  for (const e of envs) {
    await e.close();
  }
  await stopAll();
});

describe('TLS listener without certificate files', () => {
  it('gets a self-signed certificate kept in storage.dir and answers over TLS', async () => {
    const tlsPort = await freePort();
    const e2e = await startE2e(
      'e2e-tls',
      { sip: { listen: [{ transport: 'tls', host: '127.0.0.1', port: tlsPort }] } },
      { webhook: false, live: false },
    );
    envs.push(e2e);
    const certFile = join(e2e.storageDir, 'tls', 'self-signed.crt');
    expect(existsSync(certFile)).toBe(true);
    const fileCert = new X509Certificate(readFileSync(certFile));

    const socket = connect({ host: '127.0.0.1', port: tlsPort, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
    const peer = socket.getPeerX509Certificate();
    expect(peer?.fingerprint256).toBe(fileCert.fingerprint256);
    const local = `127.0.0.1:${socket.localPort ?? 0}`;
    const options = [
      `OPTIONS sip:sipscribe@127.0.0.1:${tlsPort};transport=tls SIP/2.0`,
      `Via: SIP/2.0/TLS ${local};branch=z9hG4bK-e2e-tls-1;rport`,
      'Max-Forwards: 70',
      `From: <sip:probe@${local}>;tag=e2etls`,
      `To: <sip:sipscribe@127.0.0.1:${tlsPort}>`,
      'Call-ID: e2e-tls-options@127.0.0.1',
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString('utf8');
        if (text.includes('\r\n\r\n')) {
          resolve(text);
        }
      });
    });
    socket.write(options);
    expect(await answer).toMatch(/^SIP\/2\.0 200 /);
    socket.destroy();
  });
});
