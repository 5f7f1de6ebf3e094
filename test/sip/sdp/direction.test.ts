/**
 * The answer's direction (RFC 3264 §6.1): the complement of the offered one, limited to what we are
 * willing to do (`LocalMedia.direction`; `recvonly` when we send no RTP, `rtp.sendBack: "none"`).
 * Expected values are RFC 3264 §6.1's rules written out by hand; the answer is read back with
 * sdp-transform.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as sdpTransform from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import type { Direction } from '../../../sip/sdp/media.js';
import { answerOffer } from '../../../sip/sdp/offerAnswer.js';
import { FIXTURES } from '../../helpers/paths.js';

const offer = readFileSync(join(FIXTURES, 'sdp', 'sipp-pcma-first.sdp'), 'utf8');
const ids = { sessionId: '42', version: 1 };

function answered(offered: Direction, local?: Direction): string | undefined {
  const text = offer.replace(/a=sendrecv\r?\n/, '').replace(/(m=audio[^\n]*\n)/, `$1a=${offered}\r\n`);
  const { sdp } = answerOffer(
    text,
    ['PCMU'],
    { address: '127.0.0.1', port: 20000, ...(local ? { direction: local } : {}) },
    ids,
  );
  return sdpTransform.parse(sdp).media[0]!.direction;
}

describe('answer direction', () => {
  it.each([
    // offered,   we send and receive,  we only receive (never send)
    ['sendrecv', 'sendrecv', 'recvonly'],
    ['sendonly', 'recvonly', 'recvonly'],
    ['recvonly', 'sendonly', 'inactive'],
    ['inactive', 'inactive', 'inactive'],
  ] as const)('offer %s → %s by default, %s when we never send', (offered, full, receiveOnly) => {
    expect(answered(offered)).toBe(full);
    expect(answered(offered, 'sendrecv')).toBe(full);
    expect(answered(offered, 'recvonly')).toBe(receiveOnly);
  });
});
