/**
 * Checks of a parsed message beyond its framing (RFC 3261 §8.2.2, §20; RFC 4475 §3.1.2, §3.3):
 * required header fields, single-valued fields, scalar ranges, CSeq/method agreement, and the
 * syntax of Via, From, To and Contact. A request that fails is answered `400` with the reason;
 * a response that fails is dropped.
 */
import { headerKey, SINGLE_HEADERS } from './headers.js';
import { parseNameAddr } from './nameAddr.js';
import type { SipMessage, SipRequest, SipResponse } from './SipMessage.js';
import { parseUri } from './uri.js';
import { parseVia } from './via.js';

const MAX_CSEQ = 2 ** 31 - 1;
const MAX_DELTA = 2 ** 32 - 1;

/** Why a message is malformed, as a short phrase usable as a 400 reason; undefined when fine. */
function commonProblem(msg: SipMessage): string | undefined {
  for (const name of ['via', 'from', 'to', 'call-id', 'cseq']) {
    if (!msg.has(name)) {
      return `Missing ${name === 'call-id' ? 'Call-ID' : name === 'cseq' ? 'CSeq' : name.charAt(0).toUpperCase() + name.slice(1)} header`;
    }
  }
  for (const name of SINGLE_HEADERS) {
    if (msg.count(name) > 1) {
      return `Multiple ${name} headers`;
    }
  }
  const cseqRaw = msg.get('cseq') ?? '';
  const cm = /^([0-9]+)[ \t]+(\S+)$/.exec(cseqRaw);
  if (!cm || (cm[1] ?? '').length > 10 || Number(cm[1]) > MAX_CSEQ) {
    return 'Bad CSeq';
  }
  for (const v of msg.getAll('via')) {
    if (!parseVia(v)) {
      return 'Bad Via';
    }
  }
  if (!msg.from) {
    return 'Bad From';
  }
  if (!msg.to) {
    return 'Bad To';
  }
  const callId = msg.callId;
  if (!/^[^\s]+$/.test(callId)) {
    return 'Bad Call-ID';
  }
  return undefined;
}

/** Why a request is malformed (→ 400 with this reason), or undefined. */
export function requestProblem(req: SipRequest): string | undefined {
  const common = commonProblem(req);
  if (common) {
    return common;
  }
  if (req.cseq.method !== req.method) {
    return 'CSeq method does not match Request-Line';
  }
  const mf = req.get('max-forwards');
  if (mf !== undefined && (!/^[0-9]{1,10}$/.test(mf) || Number(mf) > 255)) {
    return 'Bad Max-Forwards';
  }
  const expires = req.get('expires');
  if (expires !== undefined && (!/^[0-9]{1,10}$/.test(expires) || Number(expires) > MAX_DELTA)) {
    return 'Bad Expires';
  }
  for (const c of req.getAll('contact')) {
    if (c === '*') {
      continue;
    }
    const na = parseNameAddr(c);
    if (!na) {
      return 'Bad Contact';
    }
    const ce = na.params.get('expires');
    if (ce !== undefined && (ce === null || !/^[0-9]{1,10}$/.test(ce) || Number(ce) > MAX_DELTA)) {
      return 'Bad Contact expires';
    }
  }
  // RFC 3261 §19.1.1: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
  if (parseUri(req.uri)?.headers !== undefined) {
    return 'Headers not allowed in Request-URI';
  }
  return undefined;
}

/** Why a response is malformed (→ dropped), or undefined. */
export function responseProblem(res: SipResponse): string | undefined {
  const common = commonProblem(res);
  if (common) {
    return common;
  }
  if (res.status > 699) {
    return 'Bad status code';
  }
  const ra = res.get('retry-after');
  if (ra !== undefined && !/^[0-9]{1,10}(\s|;|\(|$)/.test(ra)) {
    return 'Bad Retry-After';
  }
  for (const w of res.getAll('warning')) {
    if (!/^[0-9]{3} /.test(w)) {
      return 'Bad Warning';
    }
  }
  return undefined;
}

/** The header fields a 400/505 for a request that failed to parse can be built from. */
export function hasResponseEssentials(headers: readonly { name: string }[]): boolean {
  const keys = new Set(headers.map((h) => headerKey(h.name)));
  return ['via', 'from', 'to', 'call-id', 'cseq'].every((k) => keys.has(k));
}
