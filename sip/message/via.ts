/**
 * Via header values (RFC 3261 §20.42, §18.2.1, RFC 3581 `rport`).
 */
import { parseParams } from './headers.js';
import { formatHost, parseHostPort } from './uri.js';

export interface Via {
  /** Upper-case transport token (UDP, TCP, TLS, SCTP, or an unknown token; RFC 4475 §3.1.1.10). */
  readonly transport: string;
  readonly host: string;
  readonly port: number | undefined;
  readonly params: ReadonlyMap<string, string | null>;
  readonly branch: string | undefined;
}

/** The RFC 3261 branch prefix (§8.1.1.7). */
export const MAGIC_COOKIE = 'z9hG4bK';

/** Parses one Via value (`SIP/2.0/UDP host:port;branch=...`). Undefined when malformed. */
export function parseVia(value: string): Via | undefined {
  const m = /^SIP[ \t]*\/[ \t]*2\.0[ \t]*\/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+([^;\s]+)[ \t]*(;.*)?$/i.exec(
    value.trim(),
  );
  if (!m) {
    return undefined;
  }
  const hp = parseHostPort(m[2] ?? '');
  const params = m[3] ? parseParams(m[3]) : new Map<string, string | null>();
  if (!hp || !params) {
    return undefined;
  }
  const branch = params.get('branch');
  return {
    transport: (m[1] ?? '').toUpperCase(),
    host: hp.host,
    port: hp.port,
    params,
    branch: branch ?? undefined,
  };
}

/** Formats a Via value. `params` are written in insertion order; null values become flags. */
export function formatVia(via: {
  transport: string;
  host: string;
  port?: number | undefined;
  params: ReadonlyMap<string, string | null>;
}): string {
  let s = `SIP/2.0/${via.transport.toUpperCase()} ${formatHost(via.host)}`;
  if (via.port !== undefined) {
    s += `:${via.port}`;
  }
  for (const [k, v] of via.params) {
    s += v === null ? `;${k}` : `;${k}=${v}`;
  }
  return s;
}
