/**
 * Mutation fuzzing of the parsers (seeded): on any input they either parse or throw an
 * RtpParseError with a code; never a RangeError from a DataView or anything else.
 */
import { describe, expect, it } from 'vitest';
import { RtpParseError } from '../../../rtp/errors.js';
import { RtpPacket, serializeRtp } from '../../../rtp/packet/RtpPacket.js';
import { buildRtcpReport, parseRtcp } from '../../../rtp/packet/rtcp.js';
import { rng } from '../rng.js';

function mutate(r: () => number, base: Uint8Array): Uint8Array {
  const len = r() < 0.3 ? Math.floor(r() * (base.byteLength + 8)) : base.byteLength;
  const out = new Uint8Array(len);
  out.set(base.subarray(0, Math.min(len, base.byteLength)));
  const flips = 1 + Math.floor(r() * 4);
  for (let i = 0; i < flips && len > 0; i++) {
    out[Math.floor(r() * len)] = Math.floor(r() * 256);
  }
  return out;
}

function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return err instanceof RtpParseError ? err.code : `UNEXPECTED ${String(err)}`;
  }
}

describe('parsers under mutation', () => {
  it('RtpPacket: 20000 mutated packets parse or throw RtpParseError', () => {
    const r = rng(7);
    const base = serializeRtp(
      {
        payloadType: 0,
        sequenceNumber: 1,
        timestamp: 2,
        ssrc: 3,
        csrcs: [4, 5],
        extension: { profile: 0xbede, data: new Uint8Array(8) },
        paddingLength: 4,
      },
      new Uint8Array(40),
    );
    const seen = new Map<string, number>();
    for (let i = 0; i < 20000; i++) {
      const o = outcome(() => new RtpPacket(mutate(r, base)));
      seen.set(o, (seen.get(o) ?? 0) + 1);
    }
    expect([...seen.keys()].filter((k) => k.startsWith('UNEXPECTED'))).toEqual([]);
    expect(seen.get('ok')).toBeGreaterThan(0);
  });

  it('parseRtcp: 20000 mutated compound packets parse or throw RtpParseError', () => {
    const r = rng(8);
    const base = buildRtcpReport({
      ssrc: 1,
      sender: { ntpSec: 1, ntpFrac: 2, rtpTimestamp: 3, packetCount: 4, octetCount: 5 },
      reports: [
        {
          ssrc: 2,
          fractionLost: 1,
          cumulativeLost: 2,
          extendedHighestSeq: 3,
          jitter: 4,
          lastSr: 5,
          delaySinceLastSr: 6,
        },
      ],
      cname: 'fuzz@example',
      bye: { reason: 'bye' },
    });
    const seen = new Map<string, number>();
    for (let i = 0; i < 20000; i++) {
      const o = outcome(() => parseRtcp(mutate(r, base)));
      seen.set(o, (seen.get(o) ?? 0) + 1);
    }
    expect([...seen.keys()].filter((k) => k.startsWith('UNEXPECTED'))).toEqual([]);
    expect(seen.get('ok')).toBeGreaterThan(0);
  });
});
