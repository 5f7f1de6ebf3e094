/**
 * Building requests and responses (RFC 3261 §8.1.1, §8.2.6), plus identifiers: branch, tag,
 * Call-ID.
 */
import { randomBytes } from 'node:crypto';
import { headerKey, MAX_LIST_VALUES, splitList } from './headers.js';
import { ownBody, SipRequest, SipResponse, setContentLength, type HeaderField } from './SipMessage.js';
import { MAGIC_COOKIE, parseVia } from './via.js';

/** Reason phrases of RFC 3261 §21 and later RFCs for the codes this stack sends. */
const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Trying',
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  182: 'Queued',
  183: 'Session Progress',
  200: 'OK',
  202: 'Accepted',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  420: 'Bad Extension',
  421: 'Extension Required',
  422: 'Session Interval Too Small',
  423: 'Interval Too Brief',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  491: 'Request Pending',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  505: 'Version Not Supported',
  513: 'Message Too Large',
  600: 'Busy Everywhere',
  603: 'Decline',
};

function reasonPhrase(status: number): string {
  return REASON_PHRASES[status] ?? (status < 200 ? 'Progress' : status < 300 ? 'OK' : 'Error');
}

function token(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** A new RFC 3261 branch (magic cookie + 64 random bits). */
export function newBranch(): string {
  return MAGIC_COOKIE + token(8);
}

/** A new From/To tag (RFC 3261 §19.3: at least 32 random bits). */
export function newTag(): string {
  return token(6);
}

/** A new Call-ID, globally unique (RFC 3261 §8.1.1.4). */
export function newCallId(): string {
  return token(12);
}

/**
 * A response to `req` (RFC 3261 §8.2.6.2): Via (all, in order), From, To (with `toTag` added when
 * the request's To has none and the status is above 100), Call-ID, CSeq copied; Content-Length 0.
 * Record-Route is copied for 18x/2xx to dialog-creating requests (§12.1.1).
 */
export function createResponse(
  req: {
    headers: readonly HeaderField[];
    get(name: string): string | undefined;
    getAll(name: string): string[];
    toTag: string | undefined;
    method?: string;
  },
  status: number,
  opts: { reason?: string; toTag?: string; headers?: readonly HeaderField[] } = {},
): SipResponse {
  const res = new SipResponse(status, opts.reason ?? reasonPhrase(status));
  for (const v of req.getAll('via')) {
    res.add('Via', v);
  }
  const from = req.get('from');
  if (from !== undefined) {
    res.add('From', from);
  }
  const to = req.get('to');
  if (to !== undefined) {
    res.add('To', req.toTag === undefined && status > 100 && opts.toTag ? `${to};tag=${opts.toTag}` : to);
  }
  res.add('Call-ID', req.get('call-id') ?? '');
  res.add('CSeq', req.get('cseq') ?? '');
  if (status > 100 && status < 300 && (req.method === 'INVITE' || req.method === 'SUBSCRIBE')) {
    for (const rr of req.getAll('record-route')) {
      res.add('Record-Route', rr);
    }
  }
  for (const h of opts.headers ?? []) {
    res.add(h.name, h.value);
  }
  setContentLength(res);
  return res;
}

/**
 * The answer to a request refused as malformed before any transaction (400/505/513): as
 * {@link createResponse} with no To tag and no Record-Route, and the Via list echoed only when it
 * is valid and at most {@link MAX_LIST_VALUES} long; otherwise its top value alone, which is what
 * routes the answer (RFC 3261 §18.2.2). So the answer to bad input is never larger than the input,
 * nor costlier to build than reading it.
 */
export function createErrorResponse(
  headers: readonly HeaderField[],
  status: number,
  reason?: string,
): SipResponse {
  const vias: string[] = [];
  for (const h of headers) {
    if (headerKey(h.name) === 'via') {
      vias.push(...splitList(h.value, MAX_LIST_VALUES + 1 - vias.length));
      if (vias.length > MAX_LIST_VALUES) {
        break;
      }
    }
  }
  const echoed = vias.length <= MAX_LIST_VALUES && vias.every((v) => parseVia(v)) ? vias : vias.slice(0, 1);
  const first = (key: string): string | undefined => headers.find((h) => headerKey(h.name) === key)?.value;
  const res = new SipResponse(status, reason ?? reasonPhrase(status));
  for (const v of echoed) {
    res.add('Via', v);
  }
  for (const [key, name] of [
    ['from', 'From'],
    ['to', 'To'],
    ['call-id', 'Call-ID'],
    ['cseq', 'CSeq'],
  ] as const) {
    res.add(name, first(key) ?? '');
  }
  setContentLength(res);
  return res;
}

interface RequestInit {
  method: string;
  uri: string;
  /** Full From value including tag. */
  from: string;
  /** Full To value (with tag inside a dialog). */
  to: string;
  callId: string;
  cseq: number;
  /** Route set, in order (name-addr values). */
  routes?: readonly string[];
  contact?: string;
  maxForwards?: number;
  headers?: readonly HeaderField[];
  body?: Buffer | string;
  contentType?: string;
}

/**
 * A new request (RFC 3261 §8.1.1) without a Via: the transaction layer adds the Via with the
 * branch and sent-by of the transport it uses.
 */
export function createRequest(init: RequestInit): SipRequest {
  const req = new SipRequest(init.method, init.uri);
  for (const r of init.routes ?? []) {
    req.add('Route', r);
  }
  req.add('Max-Forwards', String(init.maxForwards ?? 70));
  req.add('From', init.from);
  req.add('To', init.to);
  req.add('Call-ID', init.callId);
  req.add('CSeq', `${init.cseq} ${init.method}`);
  if (init.contact !== undefined) {
    req.add('Contact', init.contact);
  }
  for (const h of init.headers ?? []) {
    req.add(h.name, h.value);
  }
  if (init.body !== undefined) {
    req.body = ownBody(init.body);
    if (init.contentType !== undefined) {
      req.add('Content-Type', init.contentType);
    }
  }
  setContentLength(req);
  return req;
}

/**
 * A request in the transaction identity of an INVITE we sent: same Request-URI, top Via (so the
 * same branch), Route set, From, Call-ID and CSeq number, with `method`, the given To and no
 * body. The CANCEL (RFC 3261 §9.1) and the ACK for a non-2xx final response (§17.1.1.3).
 */
export function requestLikeInvite(invite: SipRequest, method: 'CANCEL' | 'ACK', to: string): SipRequest {
  const req = new SipRequest(method, invite.uri);
  const via = invite.getAll('via')[0];
  if (via !== undefined) {
    req.add('Via', via);
  }
  for (const r of invite.getAll('route')) {
    req.add('Route', r);
  }
  req.add('Max-Forwards', '70');
  req.add('From', invite.get('from') ?? '');
  req.add('To', to);
  req.add('Call-ID', invite.callId);
  req.add('CSeq', `${invite.cseq.seq} ${method}`);
  req.add('Content-Length', '0');
  return req;
}

/** The CANCEL for a pending INVITE (RFC 3261 §9.1): To as in the INVITE. */
export function createCancel(invite: SipRequest): SipRequest {
  return requestLikeInvite(invite, 'CANCEL', invite.get('to') ?? '');
}
