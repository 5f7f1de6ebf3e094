/**
 * The SIP message model (RFC 3261 §7): a start line, an ordered list of header fields kept as
 * received (each parsed line is kept raw, folding and padding included, so parse → serialize is
 * byte-exact), and a body of raw bytes.
 */
import { headerKey, isListHeader, splitList } from './headers.js';
import { parseNameAddr, type NameAddr } from './nameAddr.js';
import { parseVia, type Via } from './via.js';

export interface HeaderField {
  /** The name as written (possibly compact, e.g. `v`). */
  name: string;
  /** The value with surrounding whitespace trimmed and folded lines joined by one space. */
  value: string;
  /** The line exactly as received (folding included), written back by `serialize` for round trips. */
  raw?: string;
}

interface CSeq {
  readonly seq: number;
  readonly method: string;
}

abstract class SipMessageBase {
  readonly headers: HeaderField[];
  body: Buffer;

  constructor(headers: HeaderField[], body: Buffer) {
    this.headers = headers;
    this.body = body;
  }

  /** The first value of a header (compact names accepted), or undefined. */
  get(name: string): string | undefined {
    const key = headerKey(name);
    for (const h of this.headers) {
      if (headerKey(h.name) === key) {
        return h.value;
      }
    }
    return undefined;
  }

  /** All values of a header, in order; list headers (Via, Contact, Allow, ...) are split at commas. */
  getAll(name: string): string[] {
    const key = headerKey(name);
    const out: string[] = [];
    for (const h of this.headers) {
      if (headerKey(h.name) === key) {
        if (isListHeader(key)) {
          out.push(...splitList(h.value));
        } else {
          out.push(h.value);
        }
      }
    }
    return out;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Number of header lines with this name. */
  count(name: string): number {
    const key = headerKey(name);
    return this.headers.filter((h) => headerKey(h.name) === key).length;
  }

  /** Replaces every line of this header with one line (appended at the end when absent). */
  set(name: string, value: string): this {
    const key = headerKey(name);
    const idx = this.headers.findIndex((h) => headerKey(h.name) === key);
    this.remove(name);
    if (idx >= 0) {
      this.headers.splice(Math.min(idx, this.headers.length), 0, { name, value });
    } else {
      this.headers.push({ name, value });
    }
    return this;
  }

  /** Appends one header line. */
  add(name: string, value: string): this {
    this.headers.push({ name, value });
    return this;
  }

  /** Inserts one header line before every other (used for Via). */
  prepend(name: string, value: string): this {
    this.headers.unshift({ name, value });
    return this;
  }

  remove(name: string): this {
    const key = headerKey(name);
    for (let i = this.headers.length - 1; i >= 0; i--) {
      const h = this.headers[i];
      if (h && headerKey(h.name) === key) {
        this.headers.splice(i, 1);
      }
    }
    return this;
  }

  get callId(): string {
    return this.get('call-id') ?? '';
  }

  /** CSeq number and method; `{ seq: -1, method: '' }` when absent or malformed. */
  get cseq(): CSeq {
    const m = /^(\d{1,10})[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)$/.exec(this.get('cseq') ?? '');
    return m ? { seq: Number(m[1]), method: m[2] ?? '' } : { seq: -1, method: '' };
  }

  get from(): NameAddr | undefined {
    const v = this.get('from');
    return v === undefined ? undefined : parseNameAddr(v);
  }

  get to(): NameAddr | undefined {
    const v = this.get('to');
    return v === undefined ? undefined : parseNameAddr(v);
  }

  get fromTag(): string | undefined {
    return this.from?.params.get('tag') ?? undefined;
  }

  get toTag(): string | undefined {
    return this.to?.params.get('tag') ?? undefined;
  }

  /** The top Via, parsed. */
  get via(): Via | undefined {
    const v = this.getAll('via')[0];
    return v === undefined ? undefined : parseVia(v);
  }

  /** The body as text (UTF-8). */
  get bodyText(): string {
    return this.body.toString('utf8');
  }

  abstract startLine(): string;
}

/** A SIP request (RFC 3261 §7.1). */
export class SipRequest extends SipMessageBase {
  readonly kind = 'request' as const;
  method: string;
  /** The Request-URI as text. */
  uri: string;

  constructor(method: string, uri: string, headers: HeaderField[] = [], body: Buffer = Buffer.alloc(0)) {
    super(headers, body);
    this.method = method;
    this.uri = uri;
  }

  startLine(): string {
    return `${this.method} ${this.uri} SIP/2.0`;
  }
}

/** A SIP response (RFC 3261 §7.2). */
export class SipResponse extends SipMessageBase {
  readonly kind = 'response' as const;
  status: number;
  reason: string;

  constructor(status: number, reason: string, headers: HeaderField[] = [], body: Buffer = Buffer.alloc(0)) {
    super(headers, body);
    this.status = status;
    this.reason = reason;
  }

  startLine(): string {
    return `SIP/2.0 ${this.status} ${this.reason}`;
  }
}

export type SipMessage = SipRequest | SipResponse;

/**
 * Serialises a message: start line, headers exactly as stored, empty line, body.
 * Content-Length is written as stored; builders set it with {@link setContentLength}.
 */
export function serialize(msg: SipMessage): Buffer {
  let head = msg.startLine() + '\r\n';
  for (const h of msg.headers) {
    head += h.raw !== undefined ? `${h.raw}\r\n` : `${h.name}: ${h.value}\r\n`;
  }
  head += '\r\n';
  const headBuf = Buffer.from(head, 'utf8');
  return msg.body.length === 0 ? headBuf : Buffer.concat([headBuf, msg.body]);
}

const NO_BODY = Buffer.alloc(0);

/**
 * A body in memory of its own. `Buffer.from` puts a small body into Node's shared 8 KiB pool, so a
 * message kept for the whole call (the INVITE, the 200 OK and their SDP) would keep that whole slab,
 * and whatever else shares it, alive.
 */
export function ownBody(body: Buffer | string): Buffer {
  const len = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
  if (len === 0) {
    return NO_BODY;
  }
  const own = Buffer.allocUnsafeSlow(len);
  if (typeof body === 'string') {
    own.write(body, 'utf8');
  } else {
    body.copy(own);
  }
  return own;
}

/** Sets the body (and Content-Type when given) and a matching Content-Length. */
export function setBody(msg: SipMessage, body: Buffer | string, contentType?: string): void {
  msg.body = ownBody(body);
  if (contentType !== undefined) {
    msg.set('Content-Type', contentType);
  }
  setContentLength(msg);
}

/** Writes `Content-Length` equal to the body length (replacing any existing value). */
export function setContentLength(msg: SipMessage): void {
  msg.set('Content-Length', String(msg.body.length));
}
