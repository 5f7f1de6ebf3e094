/**
 * Checks a UAS makes on a new request before handing it to the application (RFC 3261 §8.2.1–8.2.3,
 * RFC 4028 §8, RFC 4475 §3.3): URI scheme (416), Require (420), Content-Type (415), Accept (406),
 * Session-Expires below our Min-SE (422), malformed Session-Expires or Min-SE (400).
 */
import type { HeaderField, SipRequest } from '../message/SipMessage.js';
import { readSessionTimer } from './sessionTimer.js';

/** Option tags we support (RFC 3261 §8.2.2.3). */
export const SUPPORTED_OPTIONS: readonly string[] = ['timer'];

interface Rejection {
  status: number;
  reason?: string;
  headers: HeaderField[];
}

export function checkRequest(req: SipRequest, minSE: number): Rejection | undefined {
  const scheme = /^([A-Za-z][A-Za-z0-9+\-.]*):/.exec(req.uri)?.[1]?.toLowerCase();
  if (scheme !== 'sip' && scheme !== 'sips' && scheme !== 'tel') {
    return { status: 416, headers: [] };
  }
  if (req.method !== 'ACK' && req.method !== 'CANCEL') {
    const unsupported = req
      .getAll('require')
      .filter((t) => t !== '' && !SUPPORTED_OPTIONS.includes(t.toLowerCase()));
    if (unsupported.length > 0) {
      return { status: 420, headers: [{ name: 'Unsupported', value: unsupported.join(', ') }] };
    }
  }
  if (req.method !== 'INVITE') {
    return undefined;
  }
  if (req.body.length > 0) {
    const type = (req.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/sdp') {
      return { status: 415, headers: [{ name: 'Accept', value: 'application/sdp' }] };
    }
  }
  const accept = req.getAll('accept');
  if (
    accept.length > 0 &&
    !accept.some((a) => /^(application\/sdp|application\/\*|\*\/\*)(\s*;.*)?$/i.test(a.trim()))
  ) {
    return { status: 406, headers: [] };
  }
  const timer = readSessionTimer(req, minSE);
  if (!timer.ok) {
    const { status, reason, headers } = timer;
    return reason !== undefined ? { status, reason, headers } : { status, headers };
  }
  return undefined;
}
