/**
 * Checks a UAS makes on a new request before handing it to the application (RFC 3261 §8.2.1–8.2.3,
 * RFC 4028 §8, RFC 4475 §3.3): URI scheme (416), Require (420; `siprec` is known when recording
 * is enabled), Content-Type (415; multipart and metadata bodies with SIPREC), Accept (406),
 * Session-Expires below our Min-SE (422), malformed Session-Expires or Min-SE (400).
 */
import type { HeaderField, SipRequest } from '../message/SipMessage.js';
import { mediaType } from '../message/multipart.js';
import { SIPREC_OPTION } from './recording.js';
import { readSessionTimer } from './sessionTimer.js';

/** Option tags we support (RFC 3261 §8.2.2.3); `siprec` (RFC 7866) when recording is enabled. */
export function supportedOptions(siprec: boolean): readonly string[] {
  return siprec ? ['timer', SIPREC_OPTION] : ['timer'];
}

/** What an INVITE body may be: SDP; with SIPREC, multipart bodies and metadata too (RFC 7866). */
export function acceptedBodies(siprec: boolean): readonly string[] {
  return siprec
    ? ['application/sdp', 'multipart/mixed', 'application/rs-metadata+xml', 'application/rs-metadata']
    : ['application/sdp'];
}

interface Rejection {
  status: number;
  reason?: string;
  headers: HeaderField[];
}

export function checkRequest(req: SipRequest, minSE: number, siprec = false): Rejection | undefined {
  const scheme = /^([A-Za-z][A-Za-z0-9+\-.]*):/.exec(req.uri)?.[1]?.toLowerCase();
  if (scheme !== 'sip' && scheme !== 'sips' && scheme !== 'tel') {
    return { status: 416, headers: [] };
  }
  if (req.method !== 'ACK' && req.method !== 'CANCEL') {
    const unsupported = req
      .getAll('require')
      .filter((t) => t !== '' && !supportedOptions(siprec).includes(t.toLowerCase()));
    if (unsupported.length > 0) {
      return { status: 420, headers: [{ name: 'Unsupported', value: unsupported.join(', ') }] };
    }
  }
  if (req.method !== 'INVITE') {
    return undefined;
  }
  if (req.body.length > 0) {
    const accepted = acceptedBodies(siprec);
    if (!accepted.includes(mediaType(req.get('content-type')) ?? '')) {
      return { status: 415, headers: [{ name: 'Accept', value: accepted.join(', ') }] };
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
