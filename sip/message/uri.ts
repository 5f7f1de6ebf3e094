/**
 * SIP and SIPS URIs (RFC 3261 §19.1, §25.1). Other schemes are kept opaque (`host` empty), so that a
 * UAS can answer them with 416 (RFC 4475 §3.3.2).
 */
import { parseParams } from './headers.js';

export interface SipUri {
  /** Lower-case scheme: 'sip', 'sips', or anything else for opaque URIs. */
  readonly scheme: string;
  readonly user: string | undefined;
  readonly password: string | undefined;
  /** Host name, IPv4 address, or IPv6 address WITHOUT brackets. Empty for opaque URIs. */
  readonly host: string;
  readonly port: number | undefined;
  /** URI parameters (`;transport=tcp;lr`), names lower case; flags map to null. */
  readonly params: ReadonlyMap<string, string | null>;
  /** The raw `?headers` part (without '?'), if any. */
  readonly headers: string | undefined;
  /** The text as received (or as formatted). */
  readonly raw: string;
}

const USER_RE = /^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+$/;
const PASSWORD_RE = /^(?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2})*$/;
const HOSTNAME_RE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?$/;
const IPV4_RE = /^(?:\d{1,3}\.){3}\d{1,3}$/;
const IPV6_RE = /^[0-9A-Fa-f:.]+$/;
const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+\-.]*$/;
const HEADERS_RE = /^(?:[A-Za-z0-9\-_.!~*'()[\]/?:+$=&]|%[0-9A-Fa-f]{2})+$/;

/** True for a valid IPv4 dotted quad, hostname or bracket-less IPv6 literal. */
function isValidHost(host: string): boolean {
  if (IPV4_RE.test(host)) {
    return host.split('.').every((o) => Number(o) <= 255);
  }
  if (host.includes(':')) {
    return IPV6_RE.test(host);
  }
  return HOSTNAME_RE.test(host);
}

/**
 * Parses `host[:port]` (IPv6 in brackets). Returns undefined when malformed.
 */
export function parseHostPort(text: string): { host: string; port: number | undefined } | undefined {
  let host: string;
  let rest: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) {
      return undefined;
    }
    host = text.slice(1, end);
    rest = text.slice(end + 1);
    if (!IPV6_RE.test(host) || !host.includes(':')) {
      return undefined;
    }
  } else {
    const colon = text.indexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    rest = colon < 0 ? '' : text.slice(colon);
    if (!isValidHost(host)) {
      return undefined;
    }
  }
  if (rest === '') {
    return { host, port: undefined };
  }
  if (!/^:\d{1,5}$/.test(rest)) {
    return undefined;
  }
  const port = Number(rest.slice(1));
  return port > 65535 ? undefined : { host, port };
}

/**
 * Parses a URI. Returns undefined when it is not a valid SIP/SIPS URI or not `scheme:opaque`.
 * @see RFC 3261 §19.1.1
 */
export function parseUri(text: string): SipUri | undefined {
  const colon = text.indexOf(':');
  if (colon <= 0 || /[\s<>"]/.test(text)) {
    return undefined;
  }
  const scheme = text.slice(0, colon).toLowerCase();
  if (!SCHEME_RE.test(scheme)) {
    return undefined;
  }
  const rest = text.slice(colon + 1);
  if (scheme !== 'sip' && scheme !== 'sips') {
    return rest.length > 0
      ? {
          scheme,
          user: undefined,
          password: undefined,
          host: '',
          port: undefined,
          params: new Map(),
          headers: undefined,
          raw: text,
        }
      : undefined;
  }
  let user: string | undefined;
  let password: string | undefined;
  let hostPart = rest;
  // The user part may itself contain ';', '?' and ',' (RFC 4475 §3.1.1.2, §3.1.1.9): the userinfo
  // is everything before the first '@' when that prefix is a valid userinfo.
  const at = rest.indexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const pc = userinfo.indexOf(':');
    const u = pc < 0 ? userinfo : userinfo.slice(0, pc);
    const pw = pc < 0 ? undefined : userinfo.slice(pc + 1);
    if (USER_RE.test(u) && (pw === undefined || PASSWORD_RE.test(pw))) {
      user = u;
      password = pw;
      hostPart = rest.slice(at + 1);
    } else if (!rest.slice(0, at).includes('?')) {
      return undefined;
    }
  }
  let headers: string | undefined;
  const q = hostPart.indexOf('?');
  if (q >= 0) {
    headers = hostPart.slice(q + 1);
    hostPart = hostPart.slice(0, q);
    if (!HEADERS_RE.test(headers)) {
      return undefined;
    }
  }
  const semi = hostPart.indexOf(';');
  const hp = parseHostPort(semi < 0 ? hostPart : hostPart.slice(0, semi));
  if (!hp) {
    return undefined;
  }
  const params = semi < 0 ? new Map<string, string | null>() : parseParams(hostPart.slice(semi));
  if (!params) {
    return undefined;
  }
  return { scheme, user, password, host: hp.host, port: hp.port, params, headers, raw: text };
}

/** Formats a host for a URI or Via (brackets around IPv6). */
export function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** Builds a SIP URI string from its parts. */
export function formatUri(parts: {
  scheme?: 'sip' | 'sips';
  user?: string | undefined;
  host: string;
  port?: number | undefined;
  params?: Readonly<Record<string, string | null>>;
}): string {
  let s = `${parts.scheme ?? 'sip'}:`;
  if (parts.user !== undefined && parts.user !== '') {
    s += `${parts.user}@`;
  }
  s += formatHost(parts.host);
  if (parts.port !== undefined) {
    s += `:${parts.port}`;
  }
  for (const [k, v] of Object.entries(parts.params ?? {})) {
    s += v === null ? `;${k}` : `;${k}=${v}`;
  }
  return s;
}
