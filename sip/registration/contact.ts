import { parseNameAddr } from '../message/nameAddr.js';
import { formatUri, parseUri } from '../message/uri.js';
import { targetFromUri } from '../transport/target.js';
import type { TransportProtocol } from '../transport/types.js';
import type { LocalContact } from './types.js';

/**
 * The Contact URI of a registration: `sip:user@host:port;transport=T`, plus `;ob` on TCP/TLS
 * (RFC 5626 §5.4: requests for this binding should come back over the flow it was registered on).
 * `secure` (a `sips:` registrar or outbound proxy, RFC 3261 §8.1.1.8) gives `sips:user@host:port`
 * instead: the binding then asks for TLS end to end, so calls routed to it arrive as secure
 * dialogs (RFC 5630 §3.1.3 deprecates `;transport=tls`, the scheme says it).
 */
export function contactUri(user: string, local: LocalContact, outboundFlag: boolean, secure = false): string {
  const params: Record<string, string | null> = {};
  const sips = secure && local.transport === 'tls';
  if (!sips && local.transport !== 'udp') {
    params['transport'] = local.transport;
  }
  if (outboundFlag && local.transport !== 'udp') {
    params['ob'] = null;
  }
  return formatUri({ scheme: sips ? 'sips' : 'sip', user, host: local.host, port: local.port, params });
}

/** `user@host:port` of a SIP URI, lower-cased host, for comparing bindings. */
function bindingKey(uri: string): string | undefined {
  const u = parseUri(uri.trim());
  return u === undefined || u.host === ''
    ? undefined
    : `${u.user ?? ''}@${u.host.toLowerCase()}:${u.port ?? ''}`;
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
    const c = parseNameAddr(value);
    const expires = c?.params.get('expires')?.replace(/^"(.*)"$/, '$1');
    if (
      c !== undefined &&
      ours !== undefined &&
      bindingKey(c.uri.raw) === ours &&
      /^\d+$/.test(expires ?? '')
    ) {
      return Number(expires);
    }
  }
  if (expiresHeader !== undefined && /^\s*\d+\s*$/.test(expiresHeader)) {
    return Number(expiresHeader.trim());
  }

  return undefined;
}

/** `sips:` → tls, else the `;transport=` parameter (udp/tcp/tls), else udp. */
export function transportOfUri(uri: string): TransportProtocol {
  return targetFromUri(uri)?.protocol ?? 'udp';
}
