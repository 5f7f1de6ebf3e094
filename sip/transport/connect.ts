/**
 * Opening an outgoing TCP or TLS connection (RFC 3261 §18.1.1, §26.2.1): TLS 1.2+, the server
 * verified against `caFile` (or the system store) unless `verify` is false, SNI for host names.
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Clock } from '../../lib/clock.js';
import type { Target } from './types.js';

export interface TlsClientOptions {
  /** PEM CA bundle to verify servers against; the system store when absent. */
  caFile?: string;
  /** Verify server certificates (default true). */
  verify?: boolean;
}

/** Resolves with the connected (and, for TLS, handshaken) socket; rejects on error or timeout. */
export async function connectStream(
  target: Target,
  tlsOptions: TlsClientOptions,
  clock: Clock,
  timeoutMs: number,
): Promise<Socket> {
  const tls = target.protocol === 'tls';
  const name = target.serverName ?? target.host;
  return await new Promise<Socket>((resolve, reject) => {
    const s: Socket = tls
      ? tlsConnect({
          host: target.host,
          port: target.port,
          servername: isIP(name) ? undefined : name,
          ca: tlsOptions.caFile ? readFileSync(tlsOptions.caFile) : undefined,
          rejectUnauthorized: tlsOptions.verify ?? true,
          minVersion: 'TLSv1.2',
        })
      : netConnect({ host: target.host, port: target.port });
    const timer = clock.setTimeout(() => {
      s.destroy();
      reject(new Error('connect timeout'));
    }, timeoutMs);
    s.once(tls ? 'secureConnect' : 'connect', () => {
      clock.clearTimeout(timer);
      s.removeAllListeners('error');
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', (err) => {
      clock.clearTimeout(timer);
      reject(err);
    });
  });
}
