import type { LocalContact, SipTransportName } from './types.js';

/** Formats a host for a URI (IPv6 literals in brackets). */
export function uriHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * The Contact URI of a registration: `sip:user@host:port;transport=T`, plus `;ob` on TCP/TLS
 * (RFC 5626 §5.4: requests for this binding should come back over the flow it was registered on).
 * `secure` (a `sips:` registrar or outbound proxy, RFC 3261 §8.1.1.8) gives `sips:user@host:port`
 * instead: the binding then asks for TLS end to end, so calls routed to it arrive as secure
 * dialogs (RFC 5630 §3.1.3 deprecates `;transport=tls`, the scheme says it).
 */
export function contactUri(user: string, local: LocalContact, outboundFlag: boolean, secure = false): string {
  const ob = outboundFlag && local.transport !== 'udp' ? ';ob' : '';
  if (secure && local.transport === 'tls') {
    return `sips:${user}@${uriHost(local.host)}:${local.port}${ob}`;
  }
  const transport = local.transport === 'udp' ? '' : `;transport=${local.transport}`;

  return `sip:${user}@${uriHost(local.host)}:${local.port}${transport}${ob}`;
}

/** One Contact value of a REGISTER response: its URI and `expires` parameter. */
export interface ResponseContact {
  readonly uri: string;
  readonly expires: number | undefined;
}

/** Parses `"name" <uri>;p=v` or `uri;p=v` (RFC 3261 §20.10); undefined when unusable. */
export function parseContactValue(value: string): ResponseContact | undefined {
  let uri: string;
  let params: string;
  const lt = value.indexOf('<');
  if (lt >= 0) {
    const gt = value.indexOf('>', lt);
    if (gt < 0) {
      return undefined;
    }
    uri = value.slice(lt + 1, gt).trim();
    params = value.slice(gt + 1);
  } else {
    const semi = value.indexOf(';');
    uri = (semi < 0 ? value : value.slice(0, semi)).trim();
    params = semi < 0 ? '' : value.slice(semi);
  }
  const m = /(?:^|;)\s*expires\s*=\s*"?(\d+)"?/i.exec(params);

  return { uri, expires: m?.[1] !== undefined ? Number(m[1]) : undefined };
}

/** `user@host:port` of a SIP URI, lower-cased host, for comparing bindings. */
function bindingKey(uri: string): string | undefined {
  const m = /^sips?:(?:([^@;?]+)@)?(\[[^\]]+\]|[^:;?>]+)(?::(\d+))?/i.exec(uri.trim());
  if (m === null) {
    return undefined;
  }

  return `${m[1] ?? ''}@${(m[2] ?? '').toLowerCase()}:${m[3] ?? ''}`;
}

/**
 * The expiry the registrar granted to our binding: the `expires` parameter of the response's
 * Contact that matches ours (RFC 3261 §10.2.4), else the `Expires` header, else undefined.
 */
export function grantedExpires(
  ourContact: string,
  responseContacts: readonly string[],
  expiresHeader: string | undefined,
): number | undefined {
  const ours = bindingKey(ourContact);
  for (const value of responseContacts) {
    const c = parseContactValue(value);
    if (c !== undefined && ours !== undefined && bindingKey(c.uri) === ours && c.expires !== undefined) {
      return c.expires;
    }
  }
  if (expiresHeader !== undefined && /^\s*\d+\s*$/.test(expiresHeader)) {
    return Number(expiresHeader.trim());
  }

  return undefined;
}

/** `sips:` → tls, else the `;transport=` parameter (udp/tcp/tls), else udp. */
export function transportOfUri(uri: string): SipTransportName {
  if (/^sips:/i.test(uri)) {
    return 'tls';
  }
  const t = /;transport=(udp|tcp|tls)(?=;|>|$)/i.exec(uri)?.[1]?.toLowerCase();

  return t === 'tcp' || t === 'tls' ? t : 'udp';
}
