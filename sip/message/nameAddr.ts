/**
 * `name-addr` / `addr-spec` with header parameters, as in From, To, Contact, Route
 * (RFC 3261 §20.10, §25.1).
 */
import { parseParams, TOKEN_RE } from './headers.js';
import { parseUri, type SipUri } from './uri.js';

export interface NameAddr {
  readonly displayName: string | undefined;
  readonly uri: SipUri;
  /** Header parameters after the address (`;tag=...`, `;expires=...`). */
  readonly params: ReadonlyMap<string, string | null>;
}

/**
 * Parses a name-addr or addr-spec with parameters. Returns undefined when malformed: unbalanced
 * quotes, non-token display names (RFC 4475 §3.1.2.6, §3.1.2.15), spaces inside `<>`
 * (§3.1.2.14), or an addr-spec containing `?`, `,` (§3.1.2.13, RFC 3261 §20.10).
 */
export function parseNameAddr(text: string): NameAddr | undefined {
  const s = text.trim();
  let displayName: string | undefined;
  let rest: string;
  const lt = s.indexOf('<');
  if (s.startsWith('"')) {
    let i = 1;
    let dn = '';
    while (i < s.length && s[i] !== '"') {
      if (s[i] === '\\') {
        i++;
      }
      dn += s[i] ?? '';
      i++;
    }
    if (i >= s.length) {
      return undefined;
    }
    displayName = dn;
    rest = s.slice(i + 1).trimStart();
    if (!rest.startsWith('<')) {
      return undefined;
    }
  } else if (lt >= 0) {
    const dn = s.slice(0, lt).trim();
    if (dn !== '') {
      if (!dn.split(/[ \t]+/).every((w) => TOKEN_RE.test(w))) {
        return undefined;
      }
      displayName = dn;
    }
    rest = s.slice(lt);
  } else {
    // addr-spec: parameters after the first ';' belong to the header, not to the URI.
    const semi = s.indexOf(';');
    const uriText = (semi < 0 ? s : s.slice(0, semi)).trimEnd();
    if (/[?,\s]/.test(uriText)) {
      return undefined;
    }
    const uri = parseUri(uriText);
    const params = semi < 0 ? new Map<string, string | null>() : parseParams(s.slice(semi));
    return uri && params ? { displayName: undefined, uri, params } : undefined;
  }
  const gt = rest.indexOf('>');
  if (gt < 0) {
    return undefined;
  }
  const uriText = rest.slice(1, gt);
  if (uriText !== uriText.trim()) {
    return undefined;
  }
  const uri = parseUri(uriText);
  const tail = rest.slice(gt + 1).trim();
  const params = tail === '' ? new Map<string, string | null>() : parseParams(tail);
  return uri && params ? { displayName, uri, params } : undefined;
}
