/**
 * The one place where the application reads TLS material from disk: server certificates and keys
 * (SIP TLS listeners, HTTPS) and CA bundles (verifying `wss://` STT servers). A file that is
 * missing, unreadable, not PEM, or a key that does not match its certificate is a `ConfigError`
 * naming the configuration key and the file.
 */
import { createSecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

/** A certificate chain and its private key, PEM. */
export interface ServerCredentials {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** Where a server's certificate and key live, and the configuration key that named them. */
interface CredentialFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** JSON path of the object holding `certFile`/`keyFile` (`http.tls`, `sip.listen[1]`). */
  readonly where: string;
}

/** What to trust when connecting to a TLS server (`tls.connect` options). */
export interface ClientTlsOptions {
  /** PEM CA bundle; the system store when absent. */
  readonly ca?: Buffer;
  /** False only with `verify: false` (the certificate is then not checked at all). */
  readonly rejectUnauthorized: boolean;
}

function readFile(path: string, where: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT'
        ? 'no such file'
        : e.code === 'EACCES'
          ? 'permission denied'
          : e.code === 'EISDIR'
            ? 'is a directory'
            : e.message;
    throw new ConfigError(where, `cannot read ${path}: ${why}`);
  }
}

/** The first certificate of a PEM file (throws ConfigError when there is none). */
function firstCertificate(pem: Buffer, path: string, where: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new ConfigError(where, `${path} holds no PEM certificate`);
  }
}

/**
 * Reads and checks a certificate and its key: both readable, the certificate PEM, the key matching
 * it (the same check the TLS server makes).
 * @throws ConfigError at `<where>.certFile` / `<where>.keyFile`.
 */
export function loadServerCredentials(files: CredentialFiles): ServerCredentials {
  const cert = readFile(files.certFile, `${files.where}.certFile`);
  const key = readFile(files.keyFile, `${files.where}.keyFile`);
  firstCertificate(cert, files.certFile, `${files.where}.certFile`);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new ConfigError(
      `${files.where}.keyFile`,
      `${files.keyFile} is not the private key of ${files.certFile} (${(err as Error).message})`,
    );
  }
  return { cert, key };
}

/**
 * Reads a CA bundle for verifying servers.
 * @throws ConfigError at `where` when the file is unreadable or holds no certificate.
 */
export function loadCaFile(caFile: string, where: string): Buffer {
  const pem = readFile(caFile, where);
  firstCertificate(pem, caFile, where);
  return pem;
}

/** Client options for `tls { caFile, verify }` as the configuration spells it (`where`: its JSON path). */
export function clientTlsOptions(
  tls: { readonly caFile?: string | null | undefined; readonly verify?: boolean } | undefined,
  where: string,
): ClientTlsOptions {
  const verify = tls?.verify ?? true;
  return tls?.caFile
    ? { ca: loadCaFile(tls.caFile, `${where}.caFile`), rejectUnauthorized: verify }
    : { rejectUnauthorized: verify };
}

/** What the logs say about a certificate. */
export interface CertificateInfo {
  readonly subject: string;
  readonly validTo: string;
  readonly fingerprint256: string;
}

/** Subject, expiry and SHA-256 fingerprint of a PEM certificate, for logs. */
export function describeCertificate(cert: Buffer): CertificateInfo {
  const x = new X509Certificate(cert);
  return { subject: x.subject.replace(/\n/g, ', '), validTo: x.validTo, fingerprint256: x.fingerprint256 };
}

/**
 * Node's codes for a server certificate that failed verification (as opposed to a connection that
 * failed): a private CA not trusted, a self-signed or expired certificate, a name mismatch.
 */
const VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The verification code when `err` (or its cause) is a certificate verification failure, else null. */
export function certificateVerifyError(err: unknown): string | null {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && VERIFY_CODES.has(code)) {
      return code;
    }
  }
  return null;
}
