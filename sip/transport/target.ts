/**
 * Choosing where a request goes from a URI (RFC 3261 §18.1.1, RFC 3263 without DNS NAPTR/SRV:
 * the transport comes from the scheme and `;transport=`, the port defaults to 5060/5061).
 */
import { parseUri } from '../message/uri.js';
import { defaultPort, type Target, type TransportProtocol } from './types.js';

/**
 * The target for a URI (`sip:`/`sips:`) or a bare `host[:port]`. `sips:` always means TLS
 * (RFC 3261 §26.2.2). Returns undefined when the text is neither.
 */
export function targetFromUri(text: string, fallback: TransportProtocol = 'udp'): Target | undefined {
  const withScheme = /^sips?:/i.test(text) ? text : `sip:${text}`;
  const uri = parseUri(withScheme);
  if (!uri || (uri.scheme !== 'sip' && uri.scheme !== 'sips')) {
    return undefined;
  }
  const tp = uri.params.get('transport')?.toLowerCase();
  let protocol: TransportProtocol =
    tp === 'tcp' ? 'tcp' : tp === 'tls' ? 'tls' : tp === 'udp' ? 'udp' : fallback;
  if (uri.scheme === 'sips') {
    protocol = 'tls';
  }
  const maddr = uri.params.get('maddr');
  const host = maddr ?? uri.host;
  return { protocol, host, port: uri.port ?? defaultPort(protocol) };
}
