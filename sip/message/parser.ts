/**
 * Parses one SIP message from bytes (RFC 3261 §7). Our own code, not sip.js's parser: we need
 * typed errors with codes, partial results to answer `400` with, byte-exact round trips and speed
 * (see sip/README.md).
 */
import { SipParseError } from '../errors.js';
import {
  headerKey,
  isListHeader,
  MAX_HEADER_FIELDS,
  MAX_LIST_VALUES,
  splitList,
  TOKEN_RE,
} from './headers.js';
import { ownBody, SipRequest, SipResponse, type HeaderField, type SipMessage } from './SipMessage.js';
import { parseUri } from './uri.js';

/** Default maximum size of one message, header and body (bytes). */
export const DEFAULT_MAX_MESSAGE_SIZE = 65535;

interface ParseOptions {
  /** Bytes; larger messages are rejected with SIP_ERR_TOO_LARGE (answerable with 513). */
  maxSize?: number;
  /**
   * True for a datagram: a missing Content-Length means "the rest of the datagram", octets after
   * the body are discarded (RFC 3261 §18.3, RFC 4475 §3.1.1.8).
   */
  datagram?: boolean;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const REQUEST_LINE = /^([A-Za-z0-9\-.!%*_+`'~]+) ([^ ]+) (SIP\/[0-9]+\.[0-9]+)$/;
const STATUS_LINE = /^(SIP\/[0-9]+\.[0-9]+) ([0-9]+) (.*)$/;

/** Skips leading CRLFs (RFC 3261 §7.5; also RFC 5626 keep-alives). Returns the first offset. */
export function skipLeadingCrlf(data: Uint8Array, from = 0): number {
  let i = from;
  while (i < data.length && (data[i] === 0x0d || data[i] === 0x0a)) {
    i++;
  }
  return i;
}

/**
 * Splits the header section into fields: folded lines joined (RFC 3261 §7.3.1), `name: value`
 * with optional whitespace before the colon. Bounded: at most {@link MAX_HEADER_FIELDS} fields
 * and {@link MAX_LIST_VALUES} values of one list header (the error carries the fields read, so
 * that a 400 can still be built).
 * @throws {SipParseError} SIP_ERR_BAD_HEADER, SIP_ERR_TOO_MANY_HEADERS, SIP_ERR_TOO_MANY_VALUES
 */
export function parseHeaderLines(text: string, isRequest: boolean): HeaderField[] {
  const headers: HeaderField[] = [];
  const values = new Map<string, number>();
  let tooMany: string | undefined;
  if (text === '') {
    return headers;
  }
  for (let pos = 0, end = 0; end >= 0; pos = end + 2) {
    end = text.indexOf('\r\n', pos);
    while (end >= 0 && (text[end + 2] === ' ' || text[end + 2] === '\t')) {
      end = text.indexOf('\r\n', end + 2);
    }
    const raw = text.slice(pos, end < 0 ? text.length : end);
    if (headers.length === MAX_HEADER_FIELDS) {
      throw new SipParseError('SIP_ERR_TOO_MANY_HEADERS', `over ${MAX_HEADER_FIELDS} header fields`, {
        isRequest,
        headers,
      });
    }
    const line = raw.includes('\r\n') ? raw.replace(/\r\n[ \t]+/g, ' ') : raw;
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon).trimEnd();
    if (colon <= 0 || !TOKEN_RE.test(name)) {
      throw new SipParseError('SIP_ERR_BAD_HEADER', `malformed header line (${line.length} bytes)`, {
        isRequest,
        headers,
      });
    }
    const value = line.slice(colon + 1).trim();
    headers.push({ name, value, raw });
    const key = headerKey(name);
    if (isListHeader(key) && tooMany === undefined) {
      const count = (values.get(key) ?? 0) + splitList(value, MAX_LIST_VALUES + 1).length;
      if (count > MAX_LIST_VALUES) {
        tooMany = name;
      }
      values.set(key, count);
    }
  }
  if (tooMany !== undefined) {
    // Thrown once every field is read, so that the answer has its From, To, Call-ID and CSeq.
    throw new SipParseError('SIP_ERR_TOO_MANY_VALUES', `over ${MAX_LIST_VALUES} ${tooMany} values`, {
      isRequest,
      headers,
    });
  }
  return headers;
}

/**
 * The value of Content-Length, undefined when absent.
 * @throws {SipParseError} SIP_ERR_BAD_CONTENT_LENGTH on several values, a negative or
 *   non-numeric value (RFC 4475 §3.1.2.3, §3.3.9)
 */
function contentLengthOf(headers: readonly HeaderField[], isRequest: boolean): number | undefined {
  let found: number | undefined;
  for (const h of headers) {
    if (headerKey(h.name) === 'content-length') {
      if (found !== undefined || !/^[0-9]{1,9}$/.test(h.value)) {
        throw new SipParseError(
          'SIP_ERR_BAD_CONTENT_LENGTH',
          found !== undefined ? 'several Content-Length values' : `bad Content-Length "${h.value}"`,
          { isRequest, headers },
        );
      }
      found = Number(h.value);
    }
  }
  return found;
}

/**
 * Parses a complete message.
 * @throws {SipParseError} with `isRequest` and the raw headers when a request could be answered
 */
export function parseMessage(data: Buffer, opts: ParseOptions = {}): SipMessage {
  const maxSize = opts.maxSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  const start = skipLeadingCrlf(data);
  if (start >= data.length) {
    throw new SipParseError('SIP_ERR_EMPTY', 'empty message');
  }
  let headEnd = data.indexOf(CRLFCRLF, start);
  if (
    headEnd < 0 &&
    opts.datagram !== false &&
    data.length >= 2 &&
    data[data.length - 2] === 0x0d &&
    data[data.length - 1] === 0x0a
  ) {
    // A datagram whose header section ends at the end of the datagram without the empty line
    // (seen in the wild and in RFC 4475 §3.1.2.15's extracted bytes): the datagram bounds it.
    headEnd = data.length - 2;
  }
  if (headEnd < 0) {
    throw new SipParseError('SIP_ERR_NO_HEADER_END', `no end of header section in ${data.length} bytes`, {
      isRequest: !data.subarray(start, start + 4).equals(Buffer.from('SIP/')),
    });
  }
  const head = data.toString('utf8', start, headEnd);
  const lineEnd = head.indexOf('\r\n');
  const startLine = lineEnd < 0 ? head : head.slice(0, lineEnd);
  const isRequest = !startLine.startsWith('SIP/');
  const headers = parseHeaderLines(lineEnd < 0 ? '' : head.slice(lineEnd + 2), isRequest);
  if (data.length - start > maxSize) {
    throw new SipParseError('SIP_ERR_TOO_LARGE', `message of ${data.length} bytes exceeds ${maxSize}`, {
      isRequest,
      headers,
      status: 513,
    });
  }

  const bodyStart = Math.min(headEnd + 4, data.length);
  const available = data.length - bodyStart;
  const cl = contentLengthOf(headers, isRequest);
  let body: Buffer;
  if (cl === undefined) {
    body = opts.datagram === false ? Buffer.alloc(0) : data.subarray(bodyStart);
  } else if (cl > available) {
    throw new SipParseError(
      'SIP_ERR_TRUNCATED_BODY',
      `Content-Length ${cl} larger than the ${available} bytes received`,
      { isRequest, headers },
    );
  } else {
    body = data.subarray(bodyStart, bodyStart + cl);
  }

  if (isRequest) {
    const m = REQUEST_LINE.exec(startLine);
    if (!m) {
      throw new SipParseError('SIP_ERR_BAD_START_LINE', 'malformed Request-Line', { isRequest, headers });
    }
    if (m[3] !== 'SIP/2.0') {
      throw new SipParseError('SIP_ERR_BAD_VERSION', `unsupported version ${m[3]}`, {
        isRequest,
        headers,
        status: 505,
      });
    }
    const uri = m[2] ?? '';
    if (!parseUri(uri)) {
      throw new SipParseError('SIP_ERR_BAD_URI', 'malformed Request-URI', { isRequest, headers });
    }
    return new SipRequest(m[1] ?? '', uri, headers, ownBody(body));
  }
  const m = STATUS_LINE.exec(startLine) ?? /^(SIP\/[0-9]+\.[0-9]+) ([0-9]+)()$/.exec(startLine);
  if (!m) {
    throw new SipParseError('SIP_ERR_BAD_START_LINE', 'malformed Status-Line');
  }
  if (m[1] !== 'SIP/2.0') {
    throw new SipParseError('SIP_ERR_BAD_VERSION', `unsupported version ${m[1]}`);
  }
  const code = m[2] ?? '';
  if (code.length !== 3 || Number(code) < 100) {
    throw new SipParseError('SIP_ERR_BAD_STATUS', `bad status code "${code.slice(0, 12)}"`);
  }
  return new SipResponse(Number(code), m[3] ?? '', headers, ownBody(body));
}
