import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSelfSigned, derTime, ensureSelfSignedCertificate, oid } from '../../../src/tls/selfSigned.js';

describe('self-signed certificate', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('encodes OIDs and times as X.690 DER', () => {
    // ecdsa-with-SHA256 and commonName as they appear in every ECDSA certificate.
    expect(oid('1.2.840.10045.4.3.2').toString('hex')).toBe('06082a8648ce3d040302');
    expect(oid('2.5.4.3').toString('hex')).toBe('0603550403');
    expect(derTime(new Date('2026-05-01T09:08:07Z')).toString('latin1')).toBe('\x17\x0d260501090807Z');
    expect(derTime(new Date('2051-01-02T03:04:05Z')).toString('latin1')).toBe('\x18\x0f20510102030405Z');
  });

  it('is a valid X.509 v3 certificate that OpenSSL (node:crypto) parses and verifies', () => {
    const now = new Date('2026-05-01T09:00:00Z');
    const { cert, key } = createSelfSigned({
      commonName: 'sip.example.com',
      altNames: ['sip.example.com', '192.0.2.10', '2001:db8::5'],
      days: 365,
      now,
    });
    const x = new X509Certificate(cert);
    expect(x.subject).toBe('CN=sip.example.com');
    expect(x.issuer).toBe('CN=sip.example.com');
    expect(x.subjectAltName).toBe(
      'DNS:sip.example.com, IP Address:192.0.2.10, IP Address:2001:DB8:0:0:0:0:0:5',
    );
    expect(x.ca).toBe(false);
    expect(new Date(x.validFrom).toISOString()).toBe('2026-05-01T08:59:00.000Z');
    expect(new Date(x.validTo).toISOString()).toBe('2027-05-01T09:00:00.000Z');
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(x.checkHost('sip.example.com')).toBe('sip.example.com');
    expect(x.checkIP('192.0.2.10')).toBe('192.0.2.10');
    expect(x.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
  });

  it('is kept in storage.dir/tls, reused, and renewed 30 days before it expires', () => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-tls-'));
    const now = new Date('2026-05-01T09:00:00Z');
    const first = ensureSelfSignedCertificate(dir, { now, days: 100 });
    expect(first).toEqual({
      certFile: join(dir, 'tls', 'self-signed.crt'),
      keyFile: join(dir, 'tls', 'self-signed.key'),
      created: true,
    });
    expect(statSync(first.keyFile).mode & 0o777).toBe(0o600);
    const pem = readFileSync(first.certFile, 'utf8');
    const later = new Date(now.getTime() + 60 * 86_400_000);
    expect(ensureSelfSignedCertificate(dir, { now: later, days: 100 }).created).toBe(false);
    expect(readFileSync(first.certFile, 'utf8')).toBe(pem);
    const nearEnd = new Date(now.getTime() + 75 * 86_400_000);
    expect(ensureSelfSignedCertificate(dir, { now: nearEnd, days: 100 }).created).toBe(true);
    expect(readFileSync(first.certFile, 'utf8')).not.toBe(pem);
  });
});
