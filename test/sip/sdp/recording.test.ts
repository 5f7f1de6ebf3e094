/**
 * Multi-stream offers of a SIPREC recording session (RFC 7866): every labelled audio
 * stream is received on its own port with its own codec, answered `a=recvonly`; other m-lines are
 * refused with port 0.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SdpError } from '../../../sip/errors.js';
import { answerStreams, describeStreams, type LocalMedia } from '../../../sip/sdp/offerAnswer.js';
import { FIXTURES } from '../../helpers/paths.js';

const RFC_OFFER = readFileSync(join(FIXTURES, 'siprec', 'rfc7866-offer.sdp'), 'latin1').replace(
  /\r?\n/g,
  '\r\n',
);
const IDS = { sessionId: '1', version: 1 };
const local = (port: number, address = '127.0.0.1'): LocalMedia => ({ address, port });
const lines = (sdp: string): string[] => sdp.split('\r\n').filter((l) => l !== '');

/** An offer of two audio streams (PCMA only, then PCMU+PCMA), from a recording client. */
const TWO = [
  'v=0',
  'o=SRC 1 1 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=audio 40000 RTP/AVP 8',
  'a=rtpmap:8 PCMA/8000',
  'a=label:caller',
  'a=sendonly',
  'm=audio 40002 RTP/AVP 0 8',
  'c=IN IP4 192.0.2.11',
  'a=label:callee',
  'a=ptime:30',
  'a=sendonly',
  '',
].join('\r\n');

describe('describeStreams', () => {
  it("lists the audio streams of RFC 7866's example offer with their labels; video is not among them", () => {
    const streams = describeStreams(RFC_OFFER, ['PCMU', 'PCMA']);
    expect(
      streams.map((s) => [s.index, s.label, s.media.address, s.media.port, s.media.codec, s.media.direction]),
    ).toEqual([
      [0, '96', '198.51.100.1', 49170, 'PCMU', 'sendonly'],
      [2, '98', '198.51.100.1', 51372, 'PCMU', 'sendonly'],
    ]);
  });

  it('chooses the codec per m-line by our preference, with each stream its own address and ptime', () => {
    const streams = describeStreams(TWO, ['PCMU', 'PCMA']);
    expect(
      streams.map((s) => [
        s.label,
        s.media.address,
        s.media.port,
        s.media.codec,
        s.media.payloadType,
        s.media.ptime,
      ]),
    ).toEqual([
      ['caller', '192.0.2.10', 40000, 'PCMA', 8, 20],
      ['callee', '192.0.2.11', 40002, 'PCMU', 0, 30],
    ]);
  });

  it('refuses a label that is not a token (RFC 4574) with SDP_ERR_BAD_VALUE', () => {
    expect(() => describeStreams(TWO.replace('a=label:caller', 'a=label:a b'), ['PCMU'])).toThrow(/a=label/);
  });
});

describe('answerStreams', () => {
  it("answers RFC 7866's example: each audio stream recvonly on its own port with its label, video refused", () => {
    const { sdp, streams } = answerStreams(
      RFC_OFFER,
      ['PCMU', 'PCMA'],
      new Map([
        [0, local(30000)],
        [2, local(30002)],
      ]),
      IDS,
    );
    expect(streams.map((s) => s.label)).toEqual(['96', '98']);
    expect(lines(sdp)).toEqual([
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.1',
      's=sipscribe',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      'm=audio 30000 RTP/AVP 0',
      'a=rtpmap:0 PCMU/8000',
      'a=ptime:20',
      'a=recvonly',
      'a=label:96',
      'm=video 0 RTP/AVPF 96',
      'm=audio 30002 RTP/AVP 0',
      'a=rtpmap:0 PCMU/8000',
      'a=ptime:20',
      'a=recvonly',
      'a=label:98',
      'm=video 0 RTP/AVPF 96',
    ]);
  });

  it('answers each stream with its own codec; a stream without a local port is refused with port 0', () => {
    const both = answerStreams(
      TWO,
      ['PCMU', 'PCMA'],
      new Map([
        [0, local(30000)],
        [1, local(30002)],
      ]),
      IDS,
    );
    expect(lines(both.sdp).filter((l) => l.startsWith('m=') || l.startsWith('a=rtpmap'))).toEqual([
      'm=audio 30000 RTP/AVP 8',
      'a=rtpmap:8 PCMA/8000',
      'm=audio 30002 RTP/AVP 0',
      'a=rtpmap:0 PCMU/8000',
    ]);
    const one = answerStreams(TWO, ['PCMU', 'PCMA'], new Map([[1, local(30002)]]), IDS);
    expect(lines(one.sdp).filter((l) => l.startsWith('m='))).toEqual([
      'm=audio 0 RTP/AVP 8',
      'm=audio 30002 RTP/AVP 0',
    ]);
    expect(one.streams.map((s) => s.label)).toEqual(['callee']);
  });

  it('answers a paused stream (a=inactive) inactive, and a sendrecv one recvonly: we never send', () => {
    const offer = TWO.replace('a=sendonly', 'a=inactive').replace(/a=sendonly/, 'a=sendrecv');
    const { sdp, streams } = answerStreams(
      offer,
      ['PCMU', 'PCMA'],
      new Map([
        [0, local(30000)],
        [1, local(30002)],
      ]),
      IDS,
    );
    expect(lines(sdp).filter((l) => /^a=(inactive|recvonly|sendrecv|sendonly)$/.test(l))).toEqual([
      'a=inactive',
      'a=recvonly',
    ]);
    expect(streams.map((s) => s.media.direction)).toEqual(['inactive', 'sendrecv']);
  });

  it('writes a media-level c= for a stream received on another address', () => {
    const { sdp } = answerStreams(
      TWO,
      ['PCMU', 'PCMA'],
      new Map([
        [0, local(30000)],
        [1, local(30002, '127.0.0.2')],
      ]),
      IDS,
    );
    expect(lines(sdp)).toContain('c=IN IP4 127.0.0.2');
    expect(lines(sdp).filter((l) => l.startsWith('c='))).toHaveLength(2);
  });

  it('refuses an offer with no stream we can receive with SDP_ERR_NO_CODEC (→ 488)', () => {
    const g729 = TWO.replace('m=audio 40000 RTP/AVP 8', 'm=audio 40000 RTP/AVP 18').replace(
      'a=rtpmap:8 PCMA/8000',
      'a=rtpmap:18 G729/8000',
    );
    const err = (() => {
      try {
        answerStreams(g729, ['PCMU'], new Map([[0, local(30000)]]), IDS);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(SdpError);
    expect((err as SdpError).code).toBe('SDP_ERR_NO_CODEC');
  });
});
