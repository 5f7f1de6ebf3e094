/**
 * Stream framing for TCP/TLS (RFC 3261 §18.3): messages are delimited by the end of the header
 * section plus Content-Length octets. Handles partial and pipelined messages and CRLF keep-alives
 * (RFC 5626 §3.5.1), and bounds the buffered bytes by the maximum message size.
 */
import { SipParseError } from '../errors.js';
import { skipLeadingCrlf } from '../message/parser.js';

const CRLFCRLF = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH_RE = /^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*$/gim;

export interface FramerOutput {
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
  #buf: Buffer = Buffer.alloc(0);
  readonly #maxSize: number;

  constructor(maxSize: number) {
    this.#maxSize = maxSize;
  }

  /** Bytes waiting for the rest of a message. */
  get buffered(): number {
    return this.#buf.length;
  }

  push(data: Buffer): FramerOutput {
    this.#buf = this.#buf.length === 0 ? data : Buffer.concat([this.#buf, data]);
    const out: FramerOutput = { messages: [], pings: 0 };
    for (;;) {
      const start = skipLeadingCrlf(this.#buf);
      if (start > 0) {
        out.pings += countPings(this.#buf.subarray(0, start));
        this.#buf = this.#buf.subarray(start);
      }
      if (this.#buf.length === 0) {
        break;
      }
      const headEnd = this.#buf.indexOf(CRLFCRLF);
      if (headEnd < 0) {
        if (this.#buf.length > this.#maxSize) {
          out.error = new SipParseError('SIP_ERR_TOO_LARGE', `header section over ${this.#maxSize} bytes`);
          this.#buf = Buffer.alloc(0);
        }
        break;
      }
      const head = this.#buf.toString('latin1', 0, headEnd);
      let length = 0;
      let count = 0;
      for (const m of head.matchAll(CONTENT_LENGTH_RE)) {
        count++;
        length = /^[0-9]{1,9}$/.test(m[1] ?? '') ? Number(m[1]) : -1;
      }
      if (count > 1 || length < 0) {
        out.error = new SipParseError('SIP_ERR_BAD_CONTENT_LENGTH', 'bad Content-Length on a stream');
        this.#buf = Buffer.alloc(0);
        break;
      }
      const total = headEnd + 4 + length;
      if (total > this.#maxSize) {
        // Hand the header section over so that the request can be answered with 513, then close.
        out.oversizeHead = Buffer.from(this.#buf.subarray(0, headEnd + 4));
        out.error = new SipParseError('SIP_ERR_TOO_LARGE', `message of ${total} bytes over ${this.#maxSize}`);
        this.#buf = Buffer.alloc(0);
        break;
      }
      if (this.#buf.length < total) {
        break;
      }
      out.messages.push(this.#buf.subarray(0, total));
      this.#buf = this.#buf.subarray(total);
    }
    if (this.#buf.length > 0 && this.#buf.byteOffset > 0 && out.messages.length > 0) {
      this.#buf = Buffer.from(this.#buf);
    }
    return out;
  }
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
