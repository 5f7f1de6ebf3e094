import { stripVTControlCharacters } from 'node:util';
import pino, { type DestinationStream, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';

export type { Logger };

/** How log records are written: JSON lines (a service, a container) or readable lines (a person). */
export type LogFormat = 'json' | 'pretty';

const URL_WITH_SECRETS = /^(?:sips?|wss?|https?|postgres(?:ql)?):.*[@?#]/is;

/**
 * A URL as it may be printed or logged: credentials inside it masked. `sip:user:pass@host` →
 * `sip:user:***@host` (the user part of a SIP URI is an address, not a secret); for ws(s),
 * http(s) and postgres(ql) (`storage.url`), userinfo → `***` and every query value and the fragment → `***`
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
 * `log.format` for a given output: `"auto"` is readable on a terminal and JSON otherwise (a
 * supervisor, a pipe, a file).
 */
export function logFormatFor(setting: LogFormat | 'auto', isTTY: boolean | undefined): LogFormat {
  return setting === 'auto' ? (isTTY === true ? 'pretty' : 'json') : setting;
}

/** Fields shown as the line's context, in brackets before the message. */
const CONTEXT_KEYS = ['part', 'callId'] as const;
/** Fields that are not shown as `key=value`: pino's own, the context and `app` (always sipscribe). */
const NOT_FIELDS = new Set<string>(['level', 'time', 'msg', 'app', ...CONTEXT_KEYS]);
/**
 * Characters a terminal may act on (C0/C1 controls, ESC sequences, bidi and other format
 * characters, line and paragraph separators): escaped, so a caller's SIP header cannot move the
 * cursor, recolour or hide text.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
/** A value printed without quotes. */
const BARE = /^[^\s"=\\\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+$/u;

function escapeUnsafe(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const cp = c.codePointAt(0) ?? 0;
    return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`;
  });
}

/** One field's value: bare when it can be, else quoted (strings) or compact JSON (objects). */
function formatValue(v: unknown): string {
  if (typeof v === 'string') {
    return BARE.test(v) ? v : escapeUnsafe(JSON.stringify(v));
  }
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) {
    return String(v);
  }
  return escapeUnsafe(JSON.stringify(v) ?? typeof v);
}

/** pino's serialized error (`type`, `message`, `stack`, own properties such as `code`). */
interface SerializedError {
  type?: unknown;
  message?: unknown;
  stack?: unknown;
  [key: string]: unknown;
}

function isSerializedError(v: unknown): v is SerializedError {
  return typeof v === 'object' && v !== null && typeof (v as SerializedError).message === 'string';
}

/**
 * The readable part of a record after its time and level: `[part callId] message key=value …`,
 * an error as `err="Type: message"` (its other properties as `err.code=…`) with its stack on the
 * lines below. Runs on the record as written (secrets already redacted and masked).
 */
function readableMessage(
  log: Record<string, unknown>,
  _messageKey: string,
  _levelLabel: string,
  { colors }: { colors: { gray: (s: string) => string } },
): string {
  const context = CONTEXT_KEYS.map((k) => log[k])
    .filter((v) => v !== undefined)
    .map((v) => (typeof v === 'string' ? escapeUnsafe(v) : formatValue(v)));
  const msg = log['msg'];
  const text = msg === undefined ? '' : typeof msg === 'string' ? escapeUnsafe(msg) : formatValue(msg);
  const head = context.length > 0 ? `[${context.join(' ')}] ${text}` : text;
  const fields: string[] = [];
  const stack: string[] = [];
  for (const [k, v] of Object.entries(log)) {
    if (NOT_FIELDS.has(k)) {
      continue;
    }
    if (!isSerializedError(v)) {
      fields.push(`${k}=${formatValue(v)}`);
      continue;
    }
    fields.push(
      `${k}=${formatValue(`${typeof v.type === 'string' ? v.type : 'Error'}: ${v.message as string}`)}`,
    );
    for (const [ek, ev] of Object.entries(v)) {
      if (ek !== 'type' && ek !== 'message' && ek !== 'stack') {
        fields.push(`${k}.${ek}=${formatValue(ev)}`);
      }
    }
    if (typeof v.stack === 'string') {
      stack.push(
        ...v.stack
          .split('\n')
          .slice(1)
          .map((l) => `    ${escapeUnsafe(l.trim())}`),
      );
    }
  }
  const line = fields.length > 0 ? `${head}${head ? ' ' : ''}${colors.gray(fields.join(' '))}` : head;
  return stack.length > 0 ? `${line}\n${colors.gray(stack.join('\n'))}` : line;
}

/**
 * A record as a person reads it: `09:00:05.123  INFO: [sip 3f2a…] message key=value …`. The time
 * is UTC, as on the console sink's transcript lines that share the terminal.
 */
function prettyStream(out: DestinationStream, color: boolean): DestinationStream {
  const format = prettyFactory({
    colorize: color,
    translateTime: 'UTC:HH:MM:ss.l',
    hideObject: true,
    messageFormat: readableMessage,
    customPrettifiers: {
      time: (t) => (typeof t === 'string' ? t : JSON.stringify(t)),
      // Right-aligned to the widest label (ERROR, DEBUG…), so that messages line up. (The label
      // is measured on the coloured one: pino-pretty's plain `label` is unset without custom levels.)
      level: (_v, _k, _log, { labelColorized }) =>
        `${' '.repeat(Math.max(0, 5 - stripVTControlCharacters(labelColorized).length))}${labelColorized}`,
    },
  });
  const flushable = out as DestinationStream & { flush?: (cb?: (err?: Error) => void) => void };
  return {
    write: (line: string): void => {
      out.write(format(line));
    },
    ...(typeof flushable.flush === 'function'
      ? { flush: (cb?: (err?: Error) => void): void => flushable.flush?.(cb) }
      : {}),
  };
}

interface LoggerOptions {
  /** Default `json`. */
  readonly format?: LogFormat;
  /** Default stdout. */
  readonly destination?: DestinationStream;
  /** ANSI colours in the `pretty` format (default false). */
  readonly color?: boolean;
}

/**
 * The root logger; secrets never reach the output: fields named like secrets are redacted and
 * credentials inside URL fields masked (`maskUrl`), in both formats (the readable one formats the
 * record pino has already redacted). Calls get `logger.child({ callId, … })`.
 */
export function createLogger(level: string, opts: LoggerOptions = {}): Logger {
  const destination = opts.destination ?? pino.destination({ fd: 1, sync: false });
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
    opts.format === 'pretty' ? prettyStream(destination, opts.color ?? false) : destination,
  );
}
