/**
 * Header field names: compact forms (RFC 3261 §7.3.3, RFC 3262/3515/3841/4028 registrations),
 * canonical spellings for the fields we write, and splitting of comma-separated values.
 */

/** Compact form → full lower-case name. */
const COMPACT: Readonly<Record<string, string>> = {
  i: 'call-id',
  m: 'contact',
  e: 'content-encoding',
  l: 'content-length',
  c: 'content-type',
  f: 'from',
  s: 'subject',
  k: 'supported',
  t: 'to',
  v: 'via',
  o: 'event',
  r: 'refer-to',
  b: 'referred-by',
  u: 'allow-events',
  x: 'session-expires',
  a: 'accept-contact',
  j: 'reject-contact',
  d: 'request-disposition',
  y: 'identity',
  n: 'identity-info',
};

/** The key used to look a header up: lower case, compact form expanded. */
export function headerKey(name: string): string {
  const lower = name.toLowerCase();
  return lower.length === 1 ? (COMPACT[lower] ?? lower) : lower;
}

/**
 * Headers whose value is a comma-separated list that may also be split across several header
 * lines (RFC 3261 §7.3.1). Others (Authorization, WWW-Authenticate, Date, ...) contain commas
 * that do not separate values.
 */
const LIST_HEADERS = new Set([
  'via',
  'contact',
  'route',
  'record-route',
  'allow',
  'supported',
  'require',
  'proxy-require',
  'unsupported',
  'accept',
  'accept-encoding',
  'accept-language',
  'allow-events',
  'content-encoding',
  'in-reply-to',
]);

export function isListHeader(key: string): boolean {
  return LIST_HEADERS.has(key);
}

/** Headers that must appear at most once (RFC 3261 §7.3.1, RFC 4475 §3.3.8). */
export const SINGLE_HEADERS: readonly string[] = [
  'call-id',
  'cseq',
  'from',
  'to',
  'max-forwards',
  'content-length',
  'content-type',
];

/**
 * Most values one list header may carry in a message, all its lines together (70 proxies, the
 * default Max-Forwards, add 70 Via and 70 Record-Route values). More is refused by the parser
 * before anything is built from them.
 */
export const MAX_LIST_VALUES = 100;

/** Most header fields (lines) in one message; more is refused by the parser. */
export const MAX_HEADER_FIELDS = 256;

/**
 * Splits a list header value at commas that are not inside quotes or angle brackets.
 * Empty elements are kept (as '') so that callers can reject `a,,b`. With `max`, stops after
 * `max` values: the value `max + 1`, when there is one, is the unsplit rest.
 */
export function splitList(value: string, max = Infinity): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value.charCodeAt(i);
    if (quoted) {
      if (ch === 0x5c) {
        i++;
      } else if (ch === 0x22) {
        quoted = false;
      }
    } else if (ch === 0x22) {
      quoted = true;
    } else if (ch === 0x3c) {
      angle = true;
    } else if (ch === 0x3e) {
      angle = false;
    } else if (ch === 0x2c && !angle) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
      if (out.length === max) {
        break;
      }
    }
  }
  out.push(value.slice(start).trim());
  return out;
}

/** `token` of RFC 3261 §25.1. */
export const TOKEN_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

/**
 * Splits `;name=value;flag` parameters. Returns undefined when a parameter is empty or malformed
 * (RFC 4475 §3.1.2.1 `;;,;`). Values may be quoted strings (kept with their quotes removed).
 */
export function parseParams(text: string): Map<string, string | null> | undefined {
  const params = new Map<string, string | null>();
  let i = 0;
  const n = text.length;
  const skipWs = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\t')) {
      i++;
    }
  };
  skipWs();
  while (i < n) {
    if (text[i] !== ';') {
      return undefined;
    }
    i++;
    skipWs();
    let j = i;
    while (j < n && /[A-Za-z0-9\-.!%*_+`'~]/.test(text[j] ?? '')) {
      j++;
    }
    if (j === i) {
      return undefined;
    }
    const name = text.slice(i, j).toLowerCase();
    i = j;
    skipWs();
    if (text[i] === '=') {
      i++;
      skipWs();
      if (text[i] === '"') {
        let k = i + 1;
        let v = '';
        while (k < n && text[k] !== '"') {
          if (text[k] === '\\') {
            k++;
          }
          v += text[k] ?? '';
          k++;
        }
        if (k >= n) {
          return undefined;
        }
        params.set(name, v);
        i = k + 1;
      } else {
        let k = i;
        while (k < n && /[A-Za-z0-9\-.!%*_+`'~:[\]]/.test(text[k] ?? '')) {
          k++;
        }
        if (k === i) {
          return undefined;
        }
        params.set(name, text.slice(i, k));
        i = k;
      }
    } else {
      params.set(name, null);
    }
    skipWs();
  }
  return params;
}
