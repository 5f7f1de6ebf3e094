/**
 * A self-signed certificate for TLS listeners configured without `certFile`/`keyFile`: generated
 * on first start into `<storage.dir>/tls/` and reused afterwards (renewed when it has less than 30
 * days left). ECDSA P-256 key, X.509 v3 certificate signed with ecdsa-with-SHA256, the common name
 * and subjectAltName entries given (DNS names and IP addresses).
 *
 * Node can make keys and sign but not build certificates, so the certificate is DER-encoded here.
 * @see RFC 5280 §4.1 (Certificate, TBSCertificate), §4.2.1.9 (basicConstraints), §4.2.1.6 (subjectAltName)
 * @see RFC 5758 §3.2 (ecdsa-with-SHA256), X.690 (DER)
 */
import { X509Certificate, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { join } from 'node:path';

// ---- DER ---------------------------------------------------------------------------------------

function len(n: number): Buffer {
  if (n < 0x80) {
    return Buffer.from([n]);
  }
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) {
    bytes.unshift(v & 0xff);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

const seq = (...c: Buffer[]): Buffer => tlv(0x30, ...c);
const set = (...c: Buffer[]): Buffer => tlv(0x31, ...c);

/** A non-negative INTEGER from big-endian bytes. */
function uint(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) {
    i++;
  }
  const b = bytes.subarray(i);
  return tlv(0x02, (b[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

/** An OBJECT IDENTIFIER from dotted form (`1.2.840.10045.4.3.2`). */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out = [40 * (arcs[0] ?? 0) + (arcs[1] ?? 0)];
  for (const arc of arcs.slice(2)) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) {
      chunk.unshift(0x80 | (v & 0x7f));
    }
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime before 2050, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
export function derTime(d: Date): Buffer {
  const iso = d.toISOString(); // 2026-05-01T09:00:00.000Z
  const digits = iso.slice(0, 19).replace(/[-:T]/g, ''); // 20260501090000
  return d.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii'))
    : tlv(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}

function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) {
    return Buffer.from(ip.split('.').map(Number));
  }
  // Expand IPv6 (`::` once, optional embedded IPv4 not supported here).
  const [head = '', tail] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.concat(groups.map((g) => Buffer.from(g.padStart(4, '0'), 'hex')));
}

// ---- certificate -------------------------------------------------------------------------------

const ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const CN = '2.5.4.3';
const SUBJECT_ALT_NAME = '2.5.29.17';
const BASIC_CONSTRAINTS = '2.5.29.19';

interface SelfSignedOptions {
  commonName?: string;
  /** DNS names and IP addresses for subjectAltName (default `localhost`, `127.0.0.1`, `::1`). */
  altNames?: readonly string[];
  /** Validity from `now` (default 10 years). */
  days?: number;
  now?: Date;
}

/** A new key pair and a self-signed certificate, both PEM. */
export function createSelfSigned(opts: SelfSignedOptions = {}): { cert: string; key: string } {
  const now = opts.now ?? new Date();
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const name = seq(set(seq(oid(CN), tlv(0x0c, Buffer.from(opts.commonName ?? 'sipscribe', 'utf8')))));
  const alt = (opts.altNames ?? ['localhost', '127.0.0.1', '::1']).map((n) =>
    isIPv4(n) || isIPv6(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n, 'ascii')),
  );
  const notAfter = new Date(now.getTime() + (opts.days ?? 3650) * 86_400_000);
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f; // positive, RFC 5280 §4.1.2.2
  const tbs = seq(
    tlv(0xa0, uint(Buffer.from([2]))), // version v3
    uint(serial),
    seq(oid(ECDSA_SHA256)),
    name,
    seq(derTime(new Date(now.getTime() - 60_000)), derTime(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(
      0xa3,
      seq(
        seq(oid(BASIC_CONSTRAINTS), tlv(0x04, seq())), // cA FALSE (the default, so empty)
        seq(oid(SUBJECT_ALT_NAME), tlv(0x04, seq(...alt))),
      ),
    ),
  );
  const signature = sign('sha256', tbs, privateKey); // DER ECDSA-Sig-Value
  const der = seq(tbs, seq(oid(ECDSA_SHA256)), tlv(0x03, Buffer.from([0]), signature));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${b64.trimEnd()}\n-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

interface CertificateFiles {
  certFile: string;
  keyFile: string;
  /** True when the files were (re)generated by this call. */
  created: boolean;
}

/**
 * The self-signed certificate kept in `<storageDir>/tls/`: reused while valid for 30 more days,
 * otherwise generated (key file mode 0600, written atomically).
 */
export function ensureSelfSignedCertificate(
  storageDir: string,
  opts: SelfSignedOptions = {},
): CertificateFiles {
  const dir = join(storageDir, 'tls');
  const certFile = join(dir, 'self-signed.crt');
  const keyFile = join(dir, 'self-signed.key');
  const now = opts.now ?? new Date();
  if (existsSync(certFile) && existsSync(keyFile)) {
    try {
      const x = new X509Certificate(readFileSync(certFile));
      if (Date.parse(x.validTo) - now.getTime() > 30 * 86_400_000) {
        return { certFile, keyFile, created: false };
      }
    } catch {
      // Unreadable: replace it below.
    }
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { cert, key } = createSelfSigned({ ...opts, now });
  writeFileSync(`${keyFile}.tmp`, key, { mode: 0o600 });
  chmodSync(`${keyFile}.tmp`, 0o600);
  renameSync(`${keyFile}.tmp`, keyFile);
  writeFileSync(`${certFile}.tmp`, cert);
  renameSync(`${certFile}.tmp`, certFile);
  return { certFile, keyFile, created: true };
}
