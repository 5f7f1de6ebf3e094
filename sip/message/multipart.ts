/**
 * `multipart/*` message bodies (RFC 2046 §5.1, as SIP carries them: RFC 3261 §7.4, RFC 5621), read
 * in one forward pass: the boundary from the Content-Type, the preamble and epilogue skipped,
 * every body part with its own header fields (Content-Type, Content-Disposition) and its octets.
 * Used for SIPREC (RFC 7866), whose INVITE carries the SDP offer and the recording metadata.
 */
import { SipBodyError } from '../errors.js';
import { parseParams } from './headers.js';
import type { HeaderField } from './SipMessage.js';

/** One body part of a multipart body. */
interface BodyPart {
  /**
   * The media type without parameters, lower case (`application/sdp`); `text/plain` when the part
   * has no Content-Type (RFC 2046 §5.1).
   */
  readonly type: string;
  /** The disposition type of Content-Disposition, lower case (`session`, `recording-session`). */
  readonly disposition: string | undefined;
  /** The part's header fields as written (folded lines joined). */
  readonly headers: readonly HeaderField[];
  /** The part's octets (a view into the message body). */
  readonly body: Buffer;
}

/** Bounds on what one body may make us do (a SIPREC INVITE has two or three parts). */
interface MultipartLimits {
  /** Body parts (default 8). */
  readonly maxParts: number;
  /** Header fields of one part (default 16). */
  readonly maxPartHeaders: number;
}

const DEFAULT_LIMITS: MultipartLimits = { maxParts: 8, maxPartHeaders: 16 };

/** RFC 2046 §5.1.1 `bchars` (1–70, not ending with a space). */
const BOUNDARY_RE = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;
const TYPE_RE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+$/;
const FIELD_NAME_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

/** A Content-Type value: its media type (lower case) and parameters (names lower case). */
interface ContentType {
  readonly type: string;
  readonly params: ReadonlyMap<string, string | null>;
}

/** Parses a Content-Type value (`multipart/mixed;boundary=foobar`); undefined when malformed. */
export function parseContentType(value: string): ContentType | undefined {
  const semi = value.indexOf(';');
  const type = (semi < 0 ? value : value.slice(0, semi)).trim();
  if (!TYPE_RE.test(type)) {
    return undefined;
  }
  const params = semi < 0 ? new Map<string, string | null>() : parseParams(value.slice(semi));
  return params ? { type: type.toLowerCase(), params } : undefined;
}

/** The media type of a Content-Type value, lower case, or undefined when there is none. */
export function mediaType(value: string | undefined): string | undefined {
  const type = value?.split(';')[0]?.trim().toLowerCase();
  return type === '' ? undefined : type;
}

const fail = (why: string): never => {
  throw new SipBodyError('SIP_ERR_MULTIPART', `multipart body: ${why}`);
};

/** The end of the line starting at `from` (index of its CR or LF) and the length of its break. */
function lineEnd(s: string, from: number): { at: number; len: number } | undefined {
  const lf = s.indexOf('\n', from);
  if (lf < 0) {
    return undefined;
  }
  return s[lf - 1] === '\r' && lf - 1 >= from ? { at: lf - 1, len: 2 } : { at: lf, len: 1 };
}

interface Delimiter {
  /** Where the CRLF before `--boundary` starts (the end of the previous part). */
  start: number;
  /** Just after the delimiter line (where the next part starts). */
  next: number;
  close: boolean;
}

/**
 * The next delimiter line at or after `from`: `--boundary` at the start of the body or after a
 * line break, then `--` (the close delimiter) or optional white space and the line break (RFC 2046
 * §5.1.1 transport-padding). A line that merely starts with the boundary text is not one.
 */
function nextDelimiter(s: string, dash: string, from: number): Delimiter | undefined {
  let i = from;
  for (;;) {
    const at = s.indexOf(dash, i);
    if (at < 0) {
      return undefined;
    }
    i = at + 1;
    let start = at;
    if (at > 0) {
      if (s[at - 1] !== '\n') {
        continue;
      }
      start = at >= 2 && s[at - 2] === '\r' ? at - 2 : at - 1;
    }
    let j = at + dash.length;
    if (s.startsWith('--', j)) {
      return { start, next: s.length, close: true };
    }
    while (s[j] === ' ' || s[j] === '\t') {
      j++;
    }
    if (s[j] === '\n') {
      return { start, next: j + 1, close: false };
    }
    if (s[j] === '\r' && s[j + 1] === '\n') {
      return { start, next: j + 2, close: false };
    }
  }
}

/** The header fields and octets of one part (`s` is the part, latin1, as `raw`). */
function readPart(raw: Buffer, limits: MultipartLimits): BodyPart {
  const s = raw.toString('latin1');
  const headers: HeaderField[] = [];
  let i = 0;
  let bodyAt = s.length;
  while (i < s.length) {
    const end = lineEnd(s, i) ?? { at: s.length, len: 0 };
    const line = s.slice(i, end.at);
    const next = end.at + end.len;
    if (line === '') {
      bodyAt = next;
      break;
    }
    const last = headers[headers.length - 1];
    if ((line.startsWith(' ') || line.startsWith('\t')) && last) {
      headers[headers.length - 1] = { name: last.name, value: `${last.value} ${line.trim()}` };
    } else {
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon).trim() : '';
      if (!FIELD_NAME_RE.test(name)) {
        fail(
          `part ${JSON.stringify(line.slice(0, 40))} is not a header field (no empty line before the part's content?)`,
        );
      }
      if (headers.length >= limits.maxPartHeaders) {
        fail(`a part has more than ${limits.maxPartHeaders} header fields`);
      }
      headers.push({ name, value: line.slice(colon + 1).trim() });
    }
    i = next;
  }
  const header = (n: string): string | undefined => headers.find((h) => h.name.toLowerCase() === n)?.value;
  const ct = header('content-type');
  let type = 'text/plain';
  if (ct !== undefined) {
    const parsed = parseContentType(ct);
    if (!parsed) {
      fail(`bad part Content-Type ${JSON.stringify(ct.slice(0, 60))}`);
    }
    type = parsed?.type ?? type;
  }
  const cd = header('content-disposition');
  const disposition = cd?.split(';')[0]?.trim().toLowerCase();
  return {
    type,
    disposition: disposition === '' ? undefined : disposition,
    headers,
    body: raw.subarray(Math.min(bodyAt, raw.length)),
  };
}

/**
 * Splits a `multipart/*` body into its parts (RFC 2046 §5.1.1): the preamble before the first
 * delimiter and the epilogue after the close delimiter are ignored; the line break before each
 * delimiter belongs to the delimiter, not to the part. Bare LF line breaks are accepted too.
 * @param contentType the message's Content-Type value, with its `boundary` parameter
 * @throws {SipBodyError} SIP_ERR_MULTIPART: no or a malformed boundary, no first or close
 *   delimiter, a malformed part header or Content-Type, more parts or part header fields than
 *   `limits` allow
 */
export function parseMultipart(
  body: Buffer,
  contentType: string,
  limits: MultipartLimits = DEFAULT_LIMITS,
): BodyPart[] {
  const ct = parseContentType(contentType);
  if (!ct?.type.startsWith('multipart/')) {
    return fail(`Content-Type ${JSON.stringify(contentType.slice(0, 60))} is not a multipart type`);
  }
  const boundary = ct.params.get('boundary');
  if (typeof boundary !== 'string' || !BOUNDARY_RE.test(boundary)) {
    return fail('no valid boundary parameter (1-70 characters, RFC 2046 §5.1.1)');
  }
  const s = body.toString('latin1');
  const dash = `--${boundary}`;
  let d = nextDelimiter(s, dash, 0);
  if (!d) {
    return fail(`no delimiter line --${boundary}`);
  }
  if (d.close) {
    return fail('no body part before the close delimiter');
  }
  const parts: BodyPart[] = [];
  for (;;) {
    const from = d.next;
    const e = nextDelimiter(s, dash, from);
    if (!e) {
      return fail(`no close delimiter --${boundary}-- (truncated body?)`);
    }
    if (parts.length >= limits.maxParts) {
      return fail(`more than ${limits.maxParts} body parts`);
    }
    parts.push(readPart(body.subarray(from, Math.max(from, e.start)), limits));
    if (e.close) {
      return parts;
    }
    d = e;
  }
}
