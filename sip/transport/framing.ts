/**
 * Stream framing for TCP/TLS (RFC 3261 §18.3): messages are delimited by the end of the header
 * section plus Content-Length octets. Handles partial and pipelined messages and CRLF keep-alives
 * (RFC 5626 §3.5.1), and bounds the buffered bytes by the maximum message size.
 *
 * Linear in the bytes received, however they are chunked: a partial message is appended to one
 * growing buffer (not re-concatenated), the search for the end of its header section resumes where
 * the previous one stopped, and its Content-Length is read once.
 */
import { SipParseError } from '../errors.js';
import { skipLeadingCrlf } from '../message/parser.js';

const CRLFCRLF = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);
/** A buffer larger than this is released once empty (idle connections hold nothing big). */
const KEEP_BYTES = 4096;

interface FramerOutput {
  /** Complete messages, in order. */
  messages: Buffer[];
  /** Number of `\r\n\r\n` keep-alive pings seen (to be answered with `\r\n`, RFC 5626 §4.4.1). */
  pings: number;
  /** A framing error: the connection cannot be resynchronised and must be closed. */
  error?: SipParseError;
  /** The header section of an oversize message, so that a request can still be answered 513. */
  oversizeHead?: Buffer;
}

export class StreamFramer {
  readonly #maxSize: number;
  /** Buffered bytes are `#store[#start, #end)`: the start of a message not complete yet. */
  #store: Buffer = EMPTY;
  #start = 0;
  #end = 0;
  /** Bytes of the buffered message already searched for the end of its header section. */
  #searched = 0;
  /** Length of the buffered message, once its header section was read. */
  #total: number | undefined;

  constructor(maxSize: number) {
    this.#maxSize = maxSize;
  }

  /** Bytes waiting for the rest of a message. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  push(data: Buffer): FramerOutput {
    const out: FramerOutput = { messages: [], pings: 0 };
    // Nothing buffered: frame `data` in place, and keep only what is left of it.
    const stored = this.#end > this.#start;
    if (stored) {
      this.#append(data);
    }
    const view = stored ? this.#store.subarray(this.#start, this.#end) : data;
    let pos = 0;
    for (;;) {
      if (this.#total === undefined && this.#searched === 0) {
        const next = skipLeadingCrlf(view, pos);
        out.pings += countPings(view.subarray(pos, next));
        pos = next;
      }
      if (pos >= view.length) {
        break;
      }
      if (this.#total === undefined) {
        const headEnd = view.indexOf(CRLFCRLF, pos + Math.max(0, this.#searched - 3));
        if (headEnd < 0) {
          this.#searched = view.length - pos;
          if (this.#searched > this.#maxSize) {
            out.error = new SipParseError('SIP_ERR_TOO_LARGE', `header section over ${this.#maxSize} bytes`);
            return this.#reset(out);
          }
          break;
        }
        const length = contentLength(view.toString('latin1', pos, headEnd));
        if (length < 0) {
          out.error = new SipParseError('SIP_ERR_BAD_CONTENT_LENGTH', 'bad Content-Length on a stream');
          return this.#reset(out);
        }
        this.#total = headEnd + 4 + length - pos;
        if (this.#total > this.#maxSize) {
          // Hand the header section over so that the request can be answered with 513, then close.
          out.oversizeHead = Buffer.from(view.subarray(pos, headEnd + 4));
          out.error = new SipParseError(
            'SIP_ERR_TOO_LARGE',
            `message of ${this.#total} bytes over ${this.#maxSize}`,
          );
          return this.#reset(out);
        }
      }
      if (view.length - pos < this.#total) {
        break;
      }
      const message = view.subarray(pos, pos + this.#total);
      // A message framed in the store is copied out: the store is reused.
      out.messages.push(stored ? Buffer.from(message) : message);
      pos += this.#total;
      this.#total = undefined;
      this.#searched = 0;
    }
    this.#keep(view, pos, stored);
    return out;
  }

  /** Appends to the store: in place, else moved to its front, else into one twice as large. */
  #append(data: Buffer): void {
    const live = this.#end - this.#start;
    if (this.#store.length - this.#end < data.length) {
      // Moving or growing copies `live` bytes, after at least as many were appended: O(1) a byte.
      const target =
        live + data.length <= this.#store.length / 2
          ? this.#store
          : Buffer.allocUnsafe(Math.max(KEEP_BYTES, 2 * (live + data.length)));
      this.#store.copy(target, 0, this.#start, this.#end);
      this.#store = target;
      this.#start = 0;
      this.#end = live;
    }
    this.#end += data.copy(this.#store, this.#end);
  }

  /** Keeps `view[pos..]`, the start of a message not complete yet. */
  #keep(view: Buffer, pos: number, stored: boolean): void {
    if (stored) {
      this.#start += pos;
    } else if (pos < view.length) {
      if (this.#store.length < view.length - pos) {
        this.#store = Buffer.allocUnsafe(Math.max(KEEP_BYTES, 2 * (view.length - pos)));
      }
      this.#start = 0;
      this.#end = view.copy(this.#store, 0, pos);
    }
    if (this.#start === this.#end) {
      this.#start = 0;
      this.#end = 0;
      if (this.#store.length > KEEP_BYTES) {
        this.#store = EMPTY;
      }
    }
  }

  #reset(out: FramerOutput): FramerOutput {
    this.#store = EMPTY;
    this.#start = 0;
    this.#end = 0;
    this.#searched = 0;
    this.#total = undefined;
    return out;
  }
}

/**
 * The Content-Length of a header section (0 when absent), -1 when repeated or not 1–9 digits.
 * One pass over its lines.
 */
function contentLength(head: string): number {
  let length = 0;
  let count = 0;
  for (let pos = head.indexOf('\r\n') + 2, end = 0; pos > 1 && end >= 0; pos = end + 2) {
    end = head.indexOf('\r\n', pos);
    const line = head.slice(pos, end < 0 ? head.length : end);
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon).trimEnd().toLowerCase();
    if (name === 'content-length' || name === 'l') {
      const value = line.slice(colon + 1).trim();
      count++;
      length = /^[0-9]{1,9}$/.test(value) ? Number(value) : -1;
    }
  }
  return count > 1 ? -1 : length;
}

function countPings(crlfs: Buffer): number {
  let n = 0;
  for (let i = 0; i + 3 < crlfs.length; i++) {
    if (crlfs[i] === 0x0d && crlfs[i + 1] === 0x0a && crlfs[i + 2] === 0x0d && crlfs[i + 3] === 0x0a) {
      n++;
      i += 3;
    }
  }
  return n;
}
