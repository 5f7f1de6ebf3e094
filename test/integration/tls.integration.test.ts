// The generated self-signed certificate works for a real TLS handshake on loopback: a client that
// trusts it (as a SIP peer configured with it would) connects and verifies the host name.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureSelfSignedCertificate } from '../../src/tls/selfSigned.js';
import { runDir } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';

afterAll(stopAll);

describe('self-signed TLS certificate', () => {
  it('serves a TLS handshake that a client trusting it accepts, for localhost and 127.0.0.1', async () => {
    const files = ensureSelfSignedCertificate(join(runDir('tls'), 'data'));
    const cert = readFileSync(files.certFile);
    const server = createServer({ cert, key: readFileSync(files.keyFile) }, (s) => s.end('hello\r\n'));
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      for (const servername of ['localhost', undefined]) {
        const text = await new Promise<string>((resolve, reject) => {
          const c = connect(
            { host: '127.0.0.1', port, ca: cert, ...(servername ? { servername } : {}) },
            () => {
              expect(c.authorized).toBe(true);
            },
          );
          let got = '';
          c.on('data', (d: Buffer) => (got += d.toString()));
          c.on('end', () => resolve(got));
          c.on('error', reject);
        });
        expect(text).toBe('hello\r\n');
      }
      // A client that does not trust it refuses it.
      const err = await new Promise<Error>((resolve) => {
        const c = connect({ host: '127.0.0.1', port, servername: 'localhost' });
        c.on('error', resolve);
        c.on('secureConnect', () => resolve(new Error('connected')));
      });
      expect((err as NodeJS.ErrnoException).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
