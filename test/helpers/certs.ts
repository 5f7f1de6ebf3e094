/**
 * A throw-away TLS CA and a server certificate for localhost / 127.0.0.1 / ::1, made with the
 * openssl CLI into a run folder (the same recipe as the team lab's make-certs.sh, copied here so the
 * project stands alone). Used by Kamailio's TLS listener, baresip, and Node TLS clients in tests.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runDir } from './paths.js';
import { run } from './processes.js';

export interface TestCerts {
  readonly dir: string;
  /** The CA certificate (trust this in TLS clients). */
  readonly caCert: string;
  readonly caKey: string;
  /** Leaf certificate, SAN DNS:localhost IP:127.0.0.1 IP:::1, serverAuth + clientAuth. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** serverCert + serverKey in one file (baresip's `sip_certificate` format). */
  readonly serverPem: string;
}

let cached: Promise<TestCerts> | undefined;

async function openssl(dir: string, args: readonly string[]): Promise<void> {
  const { code, output } = await run('openssl', 'openssl', args, { cwd: dir, timeoutMs: 30_000 });
  if (code !== 0) {
    throw new Error(`openssl ${args.join(' ')} failed (${code}):\n${output}`);
  }
}

function certPaths(dir: string): TestCerts {
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    serverPem: join(dir, 'server.pem'),
  };
}

async function make(dir: string): Promise<TestCerts> {
  const certs = certPaths(dir);
  const days = '30';
  await openssl(dir, [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt',
    '-days', days, '-subj', '/CN=sipscribe test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]); // prettier-ignore
  await openssl(dir, [
    'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr',
    '-subj', '/CN=localhost',
  ]); // prettier-ignore
  writeFileSync(
    join(dir, 'server.ext'),
    [
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
      'extendedKeyUsage=serverAuth,clientAuth',
      'basicConstraints=CA:FALSE',
      '',
    ].join('\n'),
  );
  await openssl(dir, [
    'x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.crt', '-days', days, '-sha256', '-extfile', 'server.ext',
  ]); // prettier-ignore
  writeFileSync(
    certs.serverPem,
    readFileSync(certs.serverCert, 'utf8') + readFileSync(certs.serverKey, 'utf8'),
    { mode: 0o600 },
  );
  await openssl(dir, ['verify', '-CAfile', 'ca.crt', 'server.crt']);

  return certs;
}

/**
 * Another server certificate (same names: localhost, 127.0.0.1, ::1) signed by the CA of `certs`,
 * written to `<dir>/<name>.crt` and `<dir>/<name>.key`: a renewal, as ACME tooling would leave it.
 */
export async function issueServerCert(
  certs: TestCerts,
  dir: string,
  name: string,
  commonName = name,
): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(
    ext,
    [
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
      'extendedKeyUsage=serverAuth',
      'basicConstraints=CA:FALSE',
      '',
    ].join('\n'),
  );
  await openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', `${name}.csr`, '-subj', `/CN=${commonName}`]); // prettier-ignore
  await openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', certs.caCert, '-CAkey', certs.caKey, '-CAcreateserial',
    '-out', cert, '-days', '30', '-sha256', '-extfile', ext,
  ]); // prettier-ignore
  return { cert, key };
}

/**
 * The test certificates, made once per test process (in `.test-runs/certs-…`), or into `dir`
 * when given (made again there only if missing).
 */
export async function testCerts(dir?: string): Promise<TestCerts> {
  if (dir !== undefined) {
    return existsSync(join(dir, 'server.pem')) ? certPaths(dir) : await make(dir);
  }
  cached ??= make(runDir('certs'));

  return await cached;
}
