/**
 * createCancel against RFC 3261 §9.1: "The Request-URI, Call-ID, To, the numeric part of CSeq, and
 * From header fields in the CANCEL request MUST be identical to those in the request being
 * cancelled, including tags. A CANCEL constructed by a client MUST have only a single Via header
 * field value matching the top Via value in the request being cancelled." and "If the request
 * being cancelled contains a Route header field, the CANCEL request MUST include that Route
 * header field's values." The INVITE is RFC 3261 §24.2's F1, with a Route and a second Via added.
 */
import { describe, expect, it } from 'vitest';
import { createCancel } from '../../../sip/message/build.js';
import { parseMessage } from '../../../sip/message/parser.js';
import { serialize, type SipRequest } from '../../../sip/message/SipMessage.js';

const F1 = [
  'INVITE sip:bob@biloxi.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8',
  'Via: SIP/2.0/UDP proxy.atlanta.com;branch=z9hG4bK-second',
  'Route: <sip:ss1.atlanta.com;lr>',
  'Route: <sip:ss2.biloxi.com;lr>',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.com>',
  'From: Alice <sip:alice@atlanta.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.com>',
  'Content-Type: application/sdp',
  'Content-Length: 4',
  '',
  'v=0\r\n',
].join('\r\n');

describe('createCancel (RFC 3261 §9.1)', () => {
  it('copies Request-URI, Call-ID, To, From, CSeq number, the top Via and the Route set', () => {
    const invite = parseMessage(Buffer.from(F1)) as SipRequest;
    const cancel = parseMessage(serialize(createCancel(invite))) as SipRequest;
    expect(cancel.method).toBe('CANCEL');
    expect(cancel.uri).toBe('sip:bob@biloxi.com');
    expect(cancel.callId).toBe('a84b4c76e66710');
    expect(cancel.get('to')).toBe('Bob <sip:bob@biloxi.com>');
    expect(cancel.get('from')).toBe('Alice <sip:alice@atlanta.com>;tag=1928301774');
    expect(cancel.cseq).toEqual({ seq: 314159, method: 'CANCEL' });
    expect(cancel.getAll('via')).toEqual(['SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8']);
    expect(cancel.getAll('route')).toEqual(['<sip:ss1.atlanta.com;lr>', '<sip:ss2.biloxi.com;lr>']);
    expect(cancel.has('contact')).toBe(false);
    expect(cancel.body.length).toBe(0);
    expect(cancel.get('content-length')).toBe('0');
  });
});
