import pino, { type Logger } from 'pino';

export type { Logger };

const URL_WITH_SECRETS = /^(?:sips?|wss?|https?):.*[@?#]/is;

/**
 * A URL as it may be printed or logged: credentials inside it masked. `sip:user:pass@host` →
 * `sip:user:***@host` (the user part of a SIP URI is an address, not a secret); for ws(s) and
 * http(s), userinfo → `***` and every query value and the fragment → `***`
 * (`wss://u:p@stt/api?auth_id=k` → `wss://***@stt/api?auth_id=***`). Anything else is returned as
 * it is. The one masking function for URLs: `check-config`, the logs.
 */
export function maskUrl(s: string): string {
  if (!URL_WITH_SECRETS.test(s)) {
    return s;
  }
  if (/^sips?:/i.test(s)) {
    return s
      .replace(/^(sips?:[^:@;?>]*):[^@;?>]*@/i, '$1:***@')
      .replace(/\?(.*)$/s, (_m, q: string) => `?${maskQuery(q)}`);
  }
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return '(invalid url)';
  }
  if (u.username || u.password) {
    u.username = '***';
    u.password = '';
  }
  const query = u.search ? `?${maskQuery(u.search.slice(1))}` : '';
  return `${u.protocol}//${u.username ? '***@' : ''}${u.host}${u.pathname}${query}${u.hash ? '#***' : ''}`;
}

function maskQuery(q: string): string {
  return q
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq < 0 ? pair : `${pair.slice(0, eq)}=***`;
    })
    .join('&');
}

/** `maskUrl` over a log record's fields, one level deep (`{ stt: [url, …] }`, `{ server: url }`). */
function maskFields(obj: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  for (const [k, v] of Object.entries(obj)) {
    let masked: unknown = v;
    if (typeof v === 'string') {
      masked = maskUrl(v);
    } else if (Array.isArray(v)) {
      const m = v.map((x: unknown) => (typeof x === 'string' ? maskUrl(x) : x));
      masked = m.some((x, i) => x !== v[i]) ? m : v;
    }
    if (masked !== v) {
      out ??= { ...obj };
      out[k] = masked;
    }
  }
  return out ?? obj;
}

/**
 * The root logger; secrets never reach the output: fields named like secrets are redacted and
 * credentials inside URL fields masked (`maskUrl`). Calls get `logger.child({ callId, … })`.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'sipscribe' },
      formatters: { log: maskFields },
      redact: {
        paths: [
          'password',
          '*.password',
          'apiKey',
          '*.apiKey',
          'token',
          '*.token',
          'secret',
          '*.secret',
          '*.authorization',
        ],
        censor: '***',
      },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
