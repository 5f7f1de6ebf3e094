import { describe, expect, it } from 'vitest';
import { RtpParseError } from '../../../rtp/errors.js';
import { buildRtcpReport, isRtcp, parseRtcp, rtcpIntervalMs } from '../../../rtp/packet/rtcp.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+|#[^\n]*/g, ''), 'hex'));

// Hand-made compound packet: SR with one report block, SDES with CNAME and NOTE, BYE with reason.
const COMPOUND = hex(`
  81 c8 00 0c   # V=2 P=0 RC=1, PT=200 SR, length 12 words (52 bytes)
  11 22 33 44   # sender SSRC
  e9 a1 b2 c3   # NTP seconds
  80 00 00 00   # NTP fraction (0.5 s)
  00 01 e2 40   # RTP timestamp 123456
  00 00 00 0a   # sender packet count 10
  00 00 06 40   # sender octet count 1600
  aa bb cc dd   # report block: SSRC
  40 ff ff fe   # fraction lost 64/256, cumulative lost -2 (24-bit two's complement)
  00 01 00 05   # extended highest seq: 1 cycle, seq 5
  00 00 00 50   # jitter 80
  b2 c3 80 00   # LSR
  00 01 80 00   # DLSR 1.5 s
  82 ca 00 06   # V=2 SC=2, PT=202 SDES, length 6 words (28 bytes)
  11 22 33 44   # chunk 1 SSRC
  01 05 61 40 62 2e 63  # CNAME "a@b.c"
  00            # null item, chunk ends on a 32-bit boundary
  aa bb cc dd   # chunk 2 SSRC
  07 02 68 69   # NOTE "hi"
  00 00 00 00   # null item + padding to the boundary
  81 cb 00 03   # V=2 SC=1, PT=203 BYE, length 3 words
  11 22 33 44   # SSRC
  03 62 79 65   # reason "bye"
  00 00 00 00   # padding of the reason (no P bit)
`);

describe('parseRtcp', () => {
  it('parses SR, report block, SDES and BYE of a compound packet', () => {
    expect(isRtcp(COMPOUND)).toBe(true);
    const [sr, sdes, bye, ...rest] = parseRtcp(COMPOUND);
    expect(rest).toEqual([]);
    expect(sr).toEqual({
      type: 'sr',
      ssrc: 0x11223344,
      ntpSec: 0xe9a1b2c3,
      ntpFrac: 0x80000000,
      rtpTimestamp: 123456,
      packetCount: 10,
      octetCount: 1600,
      reports: [
        {
          ssrc: 0xaabbccdd,
          fractionLost: 64,
          cumulativeLost: -2,
          extendedHighestSeq: 0x10005,
          jitter: 80,
          lastSr: 0xb2c38000,
          delaySinceLastSr: 0x18000,
        },
      ],
    });
    expect(sdes).toEqual({
      type: 'sdes',
      chunks: [
        { ssrc: 0x11223344, items: [{ type: 1, value: 'a@b.c' }] },
        { ssrc: 0xaabbccdd, items: [{ type: 7, value: 'hi' }] },
      ],
    });
    expect(bye).toEqual({ type: 'bye', ssrcs: [0x11223344], reason: 'bye' });
  });

  it('keeps unknown packet types (APP) as views', () => {
    const pkt = hex('80 c9 0001 00000001 | 80 cc 0002 00000001 41424344'.replace('|', ''));
    const [, app] = parseRtcp(pkt);
    expect(app).toMatchObject({ type: 'other', packetType: 204 });
  });

  it.each([
    ['3 bytes', '80c900', 'RTCP_ERR_TRUNCATED'],
    ['version 1', '40c90001 00000001', 'RTCP_ERR_VERSION'],
    ['length beyond the datagram', '80c90005 00000001', 'RTCP_ERR_LENGTH'],
    ['first packet is SDES', '81ca0001 00000001', 'RTCP_ERR_FIRST_PACKET'],
    ['RC=1 without a block', '81c90001 00000001', 'RTCP_ERR_LENGTH'],
    ['padding in a non-last packet', 'a0c90001 00000001 80ca0001 00000001', 'RTCP_ERR_PADDING'],
    ['padding count 0', 'a0c90002 00000001 00000000', 'RTCP_ERR_PADDING'],
    ['trailing bytes', '80c90001 00000001 80', 'RTCP_ERR_TRUNCATED'],
    ['SDES item beyond the packet', '80c90001 00000001 81ca0002 00000001 0109', 'RTCP_ERR_LENGTH'],
    ['SR shorter than 28 bytes', '80c80002 00000001 00000000', 'RTCP_ERR_LENGTH'],
  ])('rejects %s with %s', (_n, bytes, expected) => {
    expect(code(() => parseRtcp(hex(bytes)))).toBe(expected);
  });
});

/** The RtpParseError code `f` throws (undefined when it does not throw). */
function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RtpParseError);
    return (e as RtpParseError).code;
  }
  return undefined;
}

describe('reduced-size RTCP (RFC 5506), parseRtcp(bytes, { reducedSize: true })', () => {
  // baresip's keepalive: an APP packet alone (RFC 3550 §6.7), SSRC 0x63a8760f, name "PING", data "PONG".
  const APP = '80cc0003 63a8760f 50494e47 504f4e47';

  it('takes a datagram that starts with APP, SDES or BYE; without the option A.2 refuses it', () => {
    expect(parseRtcp(hex(APP), { reducedSize: true })).toEqual([
      { type: 'other', packetType: 204, count: 0, body: hex('63a8760f 50494e47 504f4e47') },
    ]);
    const bye = parseRtcp(hex('81cb0001 00000007 81ca0002 00000007 00000000'), { reducedSize: true });
    expect(bye).toEqual([
      { type: 'bye', ssrcs: [7] },
      { type: 'sdes', chunks: [{ ssrc: 7, items: [] }] },
    ]);
    expect(parseRtcp(hex('81ca0002 00000007 00000000'), { reducedSize: true })[0]?.type).toBe('sdes');
    expect(code(() => parseRtcp(hex(APP)))).toBe('RTCP_ERR_FIRST_PACKET');
  });

  it.each([
    [
      'a first type outside RTCP (192–223): RTP payload type 96',
      '80600001 00000001',
      'RTCP_ERR_FIRST_PACKET',
    ],
    ['a first type outside RTCP: 224', '80e00001 00000001', 'RTCP_ERR_FIRST_PACKET'],
    ['an APP cut short', '80cc0003 63a8760f 50494e47', 'RTCP_ERR_LENGTH'],
    ['version 1', '40cc0003 63a8760f 50494e47 504f4e47', 'RTCP_ERR_VERSION'],
    ['padding before the last packet', 'a0cc0001 00000001 80c90001 00000001', 'RTCP_ERR_PADDING'],
    ['trailing bytes', '80cc0003 63a8760f 50494e47 504f4e47 00', 'RTCP_ERR_TRUNCATED'],
  ])('still refuses %s with %s', (_n, bytes, expected) => {
    expect(code(() => parseRtcp(hex(bytes), { reducedSize: true }))).toBe(expected);
  });
});

describe('buildRtcpReport', () => {
  it('builds RR + SDES CNAME byte for byte', () => {
    const out = buildRtcpReport({
      ssrc: 0x01020304,
      cname: 'rx@h',
      reports: [
        {
          ssrc: 0xaabbccdd,
          fractionLost: 13,
          cumulativeLost: 7,
          extendedHighestSeq: 0x1fffe,
          jitter: 33,
          lastSr: 0,
          delaySinceLastSr: 0,
        },
      ],
    });
    expect(Buffer.from(out).toString('hex')).toBe(
      [
        '81c90007', // RR, RC=1, 8 words
        '01020304', // our SSRC
        'aabbccdd',
        '0d000007', // fraction 13, cumulative 7
        '0001fffe',
        '00000021',
        '00000000',
        '00000000',
        '81ca0003', // SDES, SC=1, 4 words
        '01020304',
        '01047278', // CNAME, 4 octets "rx@h"
        '40680000', // ... "@h", null item, padding
      ].join(''),
    );
    expect(parseRtcp(out)).toHaveLength(2);
  });

  it('round-trips SR with blocks, a negative cumulative loss and BYE', () => {
    const reports = [
      {
        ssrc: 5,
        fractionLost: 255,
        cumulativeLost: -3,
        extendedHighestSeq: 0xffffffff,
        jitter: 1,
        lastSr: 2,
        delaySinceLastSr: 3,
      },
    ];
    const sender = { ntpSec: 1, ntpFrac: 2, rtpTimestamp: 0xffffffff, packetCount: 4, octetCount: 5 };
    const out = buildRtcpReport({ ssrc: 9, sender, reports, cname: 'x', bye: { reason: 'done' } });
    expect(out.byteLength % 4).toBe(0);
    expect(parseRtcp(out)).toEqual([
      { type: 'sr', ssrc: 9, ...sender, reports },
      { type: 'sdes', chunks: [{ ssrc: 9, items: [{ type: 1, value: 'x' }] }] },
      { type: 'bye', ssrcs: [9], reason: 'done' },
    ]);
  });
});

describe('rtcpIntervalMs (RFC 3550 A.7)', () => {
  it('is the 5 s minimum (2.5 s initially) scaled by [0.5, 1.5] / (e - 1.5) for a two-party call', () => {
    // 64 kbit/s G.711 → 5 % RTCP = 400 octets/s; a 100-octet report is far below the minimum.
    expect(rtcpIntervalMs(2, 1, 400, false, 100, false, 0.5)).toBeCloseTo(5000 / (Math.E - 1.5), 6);
    expect(rtcpIntervalMs(2, 1, 400, false, 100, true, 0)).toBeCloseTo((2500 * 0.5) / (Math.E - 1.5), 6);
    expect(rtcpIntervalMs(2, 1, 400, false, 100, false, 0.999)).toBeLessThan((5000 * 1.5) / (Math.E - 1.5));
  });
  it('grows with the members when the bandwidth share is exceeded', () => {
    // 1000 receivers of 100 octets at 75 % of 400 octets/s: 1000 × 100 / 300 s.
    expect(rtcpIntervalMs(1001, 1, 400, false, 100, false, 0.5)).toBeCloseTo(
      ((1000 * 100) / 300 / (Math.E - 1.5)) * 1000,
      3,
    );
  });
});
