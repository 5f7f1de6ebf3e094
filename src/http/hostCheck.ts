/**
 * Which `Host` and `Origin` a request may carry: the defence against DNS rebinding (a hostile page
 * whose name resolves to this server sends its own name as `Host`) and cross-site WebSocket
 * hijacking (a hostile page opens `/api/live` and the browser sends its `Origin`).
 *
 * A `Host` is accepted when it names this server:
 * - an IP address literal (a rebinding page can only use a name, never an address);
 * - `localhost` or a name under `.localhost` (RFC 6761: always loopback);
 * - `http.host` when it is a name;
 * - an entry of `http.allowedHosts` (`"transcribe.example.com"`, or `".example.com"` for the name and
 *   every name under it).
 * An `Origin` (sent by browsers) is accepted when it is the same origin as the `Host` the request
 * names (the page served by this server) or its name is an `http.allowedHosts` entry (a page behind
 * a reverse proxy that rewrites `Host`). A request without `Origin` (curl, scripts) passes.
 */
import { isIP } from 'node:net';

export interface HostPolicy {
  /** `http.host`: the address or name the server listens on. */
  host: string;
  /** `http.allowedHosts`: further names clients may use. */
  allowedHosts: readonly string[];
}

/** The host name of a `Host` header value (lower case, no port, IPv6 without brackets), or null. */
export function hostName(hostHeader: string): string | null {
  let u: URL;
  try {
    u = new URL(`http://${hostHeader}`);
  } catch {
    return null;
  }
  // Anything besides host[:port] (userinfo, a path) is not a Host header.
  if (u.username || u.password || u.pathname !== '/' || u.search || u.hash || hostHeader.includes('/')) {
    return null;
  }
  return bare(u.hostname);
}

function bare(hostname: string): string {
  return hostname
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

function listed(name: string, allowedHosts: readonly string[]): boolean {
  return allowedHosts.some((entry) => {
    const e = bare(entry);
    return e.startsWith('.') ? name === e.slice(1) || name.endsWith(e) : name === e;
  });
}

/** Whether a request's `Host` header names this server (see the module comment). */
export function hostAllowed(hostHeader: string | undefined, policy: HostPolicy): boolean {
  const name = hostHeader === undefined ? null : hostName(hostHeader);
  if (name === null || name === '') {
    return false;
  }
  return (
    isIP(name) !== 0 ||
    name === 'localhost' ||
    name.endsWith('.localhost') ||
    name === bare(policy.host) ||
    listed(name, policy.allowedHosts)
  );
}

/** Whether a request's `Origin` may use this server (a request without one passes). */
export function originAllowed(
  origin: string | undefined,
  hostHeader: string | undefined,
  policy: HostPolicy,
): boolean {
  if (origin === undefined) {
    return true;
  }
  let o: URL;
  try {
    o = new URL(origin);
  } catch {
    return false; // "null" (sandboxed frames, file:) and garbage
  }
  if (o.protocol !== 'http:' && o.protocol !== 'https:') {
    return false;
  }
  if (listed(bare(o.hostname), policy.allowedHosts)) {
    return true;
  }
  if (hostHeader === undefined) {
    return false;
  }
  try {
    // Same origin: the Host header read with the origin's scheme (so :80/:443 compare as absent).
    return new URL(`${o.protocol}//${hostHeader}`).host === o.host;
  } catch {
    return false;
  }
}
