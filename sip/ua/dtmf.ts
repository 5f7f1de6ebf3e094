/**
 * `application/dtmf-relay` INFO bodies (the de-facto format: `Signal=5\r\nDuration=160`;
 * Duration in milliseconds).
 */
import type { SipRequest } from '../message/SipMessage.js';
import type { DtmfEvent } from './types.js';

/** Parses a dtmf-relay body; undefined when it carries no valid Signal. */
export function parseDtmfRelay(body: string): DtmfEvent | undefined {
  const signal = /^\s*signal\s*=\s*(\S+)\s*$/im.exec(body)?.[1];
  if (signal === undefined || !/^([0-9*#A-Da-d]|1[0-6])$/.test(signal)) {
    return undefined;
  }
  const digit = /^1[0-6]$/.test(signal)
    ? (['*', '#', 'A', 'B', 'C', 'D', 'flash'][Number(signal) - 10] ?? signal)
    : signal.toUpperCase();
  const duration = /^\s*duration\s*=\s*([0-9]+)\s*$/im.exec(body)?.[1];
  return { digit, durationMs: duration === undefined ? 250 : Number(duration) };
}

/**
 * How to answer an in-dialog INFO (RFC 6086 without Info packages, as SIP trunks send it): empty →
 * 200 (keep-alive); `application/dtmf-relay` → 200 and the digit; other types → 415; a bad body → 400.
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
  const event = parseDtmfRelay(req.bodyText);
  return event ? { status: 200, event } : { status: 400, reason: 'Bad dtmf-relay body' };
}
