import { DigestError } from './errors.js';

/**
 * A parsed `WWW-Authenticate`, `Proxy-Authenticate`, `Authorization` or `Proxy-Authorization`
 * value: the scheme (e.g. `Digest`) and its auth-params, names lower-cased, values unquoted.
 *
 * @see RFC 3261 §25.1 (`challenge`, `credentials`, `auth-param`), RFC 7616 §3.3/§3.4
 */
interface AuthHeaderValue {
  readonly scheme: string;
  readonly params: ReadonlyMap<string, string>;
}

const TOKEN = /[A-Za-z0-9\-.!%*_+`'~]/;

/**
 * Parses one header value of the form `Scheme name=token, name="quoted \"string\""`.
 * SIP forbids combining several challenges into one header value (RFC 3261 §7.3.1), so one value
 * holds one challenge or one set of credentials.
 *
 * @throws DigestError `SIP_ERR_AUTH_MALFORMED` when the value does not follow the grammar.
 */
export function parseAuthHeader(value: string): AuthHeaderValue {
  let i = 0;
  const n = value.length;
  const skipWs = (): void => {
    while (i < n && (value[i] === ' ' || value[i] === '\t' || value[i] === '\r' || value[i] === '\n')) {
      i++;
    }
  };
  const token = (): string => {
    const start = i;
    while (i < n && TOKEN.test(value[i] ?? '')) {
      i++;
    }
    return value.slice(start, i);
  };
  const fail = (what: string): never => {
    throw new DigestError('SIP_ERR_AUTH_MALFORMED', `${what} at offset ${i} of auth header "${value}"`);
  };

  skipWs();
  const scheme = token();
  if (scheme === '') {
    fail('missing scheme');
  }
  const params = new Map<string, string>();
  skipWs();
  while (i < n) {
    const name = token().toLowerCase();
    if (name === '') {
      fail('expected a parameter name');
    }
    skipWs();
    if (value[i] !== '=') {
      fail(`expected "=" after "${name}"`);
    }
    i++;
    skipWs();
    let v = '';
    if (value[i] === '"') {
      i++;
      let closed = false;
      while (i < n) {
        const c = value[i];
        if (c === '\\' && i + 1 < n) {
          v += value[i + 1];
          i += 2;
        } else if (c === '"') {
          i++;
          closed = true;
          break;
        } else {
          v += c;
          i++;
        }
      }
      if (!closed) {
        fail(`unterminated quoted value of "${name}"`);
      }
    } else {
      v = token();
      if (v === '') {
        fail(`empty value of "${name}"`);
      }
    }
    if (params.has(name)) {
      fail(`duplicate parameter "${name}"`);
    }
    params.set(name, v);
    skipWs();
    if (i < n) {
      if (value[i] !== ',') {
        fail('expected ","');
      }
      i++;
      skipWs();
    }
  }

  return { scheme, params };
}

/** Quotes a value as a SIP quoted-string (escaping `"` and `\`). */
export function quote(v: string): string {
  return `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}
