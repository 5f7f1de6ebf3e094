/**
 * Every value of an offer or answer we read is checked before it reaches the media stack (issue
 * #10): ports 1–65535 written as plain decimals, IP addresses matching their address type, ptime
 * 10–120 ms, payload types 0–127, encoding names and clock rates. A wrong value is an SdpError
 * SDP_ERR_BAD_VALUE naming the field (the stack answers 488 with it in a Warning); a body that is
 * not SDP at all is SDP_ERR_PARSE (400).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { answerOffer, describeOffer, readAnswer } from '../../../sip/sdp/offerAnswer.js';
import { FIXTURES } from '../../helpers/paths.js';

const OFFER = readFileSync(join(FIXTURES, 'sdp', 'sipp-pcma-first.sdp'), 'utf8');
const IPV6 = readFileSync(join(FIXTURES, 'sdp', 'video-audio-ipv6.sdp'), 'utf8');
const ids = { sessionId: '42', version: 1 };
const local = { address: '127.0.0.1', port: 20000 };

/** [what, offer, a fragment the error message must contain (the field named)] */
const BAD_VALUES: [string, string, string][] = [
  ['port above 65535', OFFER.replace('m=audio 6100', 'm=audio 99999'), 'm=audio port'],
  ['empty port', OFFER.replace('m=audio 6100', 'm=audio '), 'm='],
  ['zero-padded port', OFFER.replace('m=audio 6100', 'm=audio 06100'), 'm=audio port'],
  ['port with a sign', OFFER.replace('m=audio 6100', 'm=audio +6100'), 'm='],
  ['c= address not an IPv4 address', OFFER.replace('c=IN IP4 127.0.0.1', 'c=IN IP4 5'), 'c= address'],
  ['c= IPv4 octet 256', OFFER.replace('c=IN IP4 127.0.0.1', 'c=IN IP4 1.2.3.256'), 'c= address'],
  ['c= IP6 with an IPv4 address', OFFER.replace('c=IN IP4', 'c=IN IP6'), 'c= address'],
  ['c= host name', OFFER.replace('c=IN IP4 127.0.0.1', 'c=IN IP4 evil.example'), 'c= address'],
  ['no c= at all', OFFER.replace('c=IN IP4 127.0.0.1\r\n', ''), 'c='],
  ['ptime 0', OFFER.replace('a=ptime:20', 'a=ptime:0'), 'a=ptime'],
  ['ptime 1.2.3', OFFER.replace('a=ptime:20', 'a=ptime:1.2.3'), 'a=ptime'],
  ['ptime 100000', OFFER.replace('a=ptime:20', 'a=ptime:100000'), 'a=ptime'],
  ['rtpmap without an encoding name', OFFER.replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:0 1'), 'a=rtpmap:0'],
  ['rtpmap without a clock rate', OFFER.replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:0 PCMU'), 'a=rtpmap:0'],
  ['rtpmap with clock rate 0', OFFER.replace('a=rtpmap:8 PCMA/8000', 'a=rtpmap:8 PCMA/0'), 'a=rtpmap:8'],
  ['rtpmap payload 300', OFFER.replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:300 PCMU/8000'), 'a=rtpmap'],
  ['payload type 128 in m=', OFFER.replace('RTP/AVP 8 0 101', 'RTP/AVP 8 0 128'), 'm=audio payload'],
  ['payload type 00 in m=', OFFER.replace('RTP/AVP 8 0 101', 'RTP/AVP 8 00 101'), 'm=audio payload'],
  ['rtcp port 70000', OFFER.replace('a=ptime:20', 'a=ptime:20\r\na=rtcp:70000'), 'a=rtcp'],
  ['telephone-event fmtp garbage', OFFER.replace('a=fmtp:101 0-16', 'a=fmtp:101 0-16;x'), 'a=fmtp:101'],
];

describe('SDP values checked', () => {
  it.each(BAD_VALUES)('%s → SDP_ERR_BAD_VALUE naming the field', (_what, offer, field) => {
    for (const read of [
      () => describeOffer(offer, ['PCMU', 'PCMA']),
      () => answerOffer(offer, ['PCMU', 'PCMA'], local, ids),
      () => readAnswer(offer, ['PCMU', 'PCMA']),
    ]) {
      expect(read).toThrow(expect.objectContaining({ code: 'SDP_ERR_BAD_VALUE' }));
      expect(read).toThrow(field);
    }
  });

  it.each([
    ['not SDP at all', 'hello'],
    ['a line without type=value', OFFER.replace('s=-', 's -')],
    ['no v= line first', OFFER.replace('v=0\r\n', '')],
    ['v=1', OFFER.replace('v=0', 'v=1')],
    ['a line of 2000 bytes', OFFER.replace('s=-', `s=${'x'.repeat(2000)}`)],
  ])('%s → SDP_ERR_PARSE', (_what, body) => {
    expect(() => describeOffer(body, ['PCMU'])).toThrow(expect.objectContaining({ code: 'SDP_ERR_PARSE' }));
  });

  it('well-formed offers still pass: IPv6, a rejected video stream, port 0 streams, 0.0.0.0 hold, empty lines', () => {
    expect(describeOffer(IPV6, ['PCMA'])).toMatchObject({ address: '::1', port: 49170, ptime: 30 });
    const hold = OFFER.replace('c=IN IP4 127.0.0.1', 'c=IN IP4 0.0.0.0');
    expect(describeOffer(hold, ['PCMU'])).toMatchObject({ address: '0.0.0.0', port: 6100 });
    const noPtime = OFFER.replace('a=ptime:20\r\n', '');
    expect(describeOffer(noPtime, ['PCMU'])?.ptime).toBe(20);
    // Empty lines (a SIPp scenario's body starts with one) are skipped.
    expect(describeOffer(`\r\n${OFFER}\r\n`, ['PCMU'])).toMatchObject({ port: 6100 });
  });
});
