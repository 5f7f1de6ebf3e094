/**
 * `application/dtmf-relay` INFO bodies (the de-facto format: `Signal=5\r\nDuration=160`;
 * Duration in milliseconds). Read line by line, each byte once: a body costs linear time.
 */
import type { SipRequest } from '../message/SipMessage.js';
import type { DtmfEvent } from './types.js';

/**
 * Largest dtmf-relay body read (bytes); a larger one is answered 413 unread. Real bodies are
 * about 25 bytes (`Signal=5\r\nDuration=160\r\n`).
 */
export const DTMF_RELAY_MAX_BODY = 1024;

const DIGITS_16 = ['*', '#', 'A', 'B', 'C', 'D', 'flash'];

/** Parses a dtmf-relay body; undefined when it carries no valid Signal or a bad Duration. */
export function parseDtmfRelay(body: string): DtmfEvent | undefined {
  let signal: string | undefined;
  let duration: string | undefined;
  for (const line of body.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) {
      continue;
    }
    const key = line.slice(0, eq).trim().toLowerCase();
    const value = line.slice(eq + 1).trim();
    if (key === 'signal' && signal === undefined) {
      signal = value;
    } else if (key === 'duration' && duration === undefined) {
      duration = value;
    }
  }
  if (signal === undefined || !/^([0-9*#A-Da-d]|1[0-6])$/.test(signal)) {
    return undefined;
  }
  if (duration !== undefined && !/^[0-9]{1,6}$/.test(duration)) {
    return undefined;
  }
  const digit = signal.length === 2 ? (DIGITS_16[Number(signal) - 10] ?? signal) : signal.toUpperCase();
  return { digit, durationMs: duration === undefined ? 250 : Number(duration) };
}

/**
 * How to answer an in-dialog INFO (RFC 6086 without Info packages, as SIP trunks send it): empty →
 * 200 (keep-alive); `application/dtmf-relay` → 200 and the digit; other types → 415; a body over
 * {@link DTMF_RELAY_MAX_BODY} → 413 (RFC 3261 §21.4.11); a bad body → 400.
 */
export function inspectInfo(req: SipRequest): {
  status: number;
  reason?: string;
  accept?: string;
  event?: DtmfEvent;
} {
  if (req.body.length === 0) {
    return { status: 200 };
  }
  const type = (req.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/dtmf-relay') {
    return { status: 415, accept: 'application/dtmf-relay' };
  }
  if (req.body.length > DTMF_RELAY_MAX_BODY) {
    return { status: 413, reason: 'dtmf-relay body too large' };
  }
  const event = parseDtmfRelay(req.bodyText);
  return event ? { status: 200, event } : { status: 400, reason: 'Bad dtmf-relay body' };
}
