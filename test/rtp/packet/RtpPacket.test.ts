import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RtpParseError } from '../../../rtp/errors.js';
import { RtpPacket, serializeRtp } from '../../../rtp/packet/RtpPacket.js';
import { FIXTURES } from '../../helpers/paths.js';
import { readPcapUdp } from '../pcap.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+|#[^\n]*/g, ''), 'hex'));

// A hand-made packet using every header feature (RFC 3550 §5.1, §5.3.1, padding).
const FULL = hex(`
  b2          # V=2, P=1, X=1, CC=2
  e1          # M=1, PT=97
  ff ff       # sequence number 65535
  ff ff ff ff # timestamp 4294967295
  de ad be ef # SSRC
  00 00 00 01 # CSRC 1
  00 00 00 02 # CSRC 2
  be de 00 01 # extension profile 0xBEDE, length 1 word
  10 aa 00 00 # extension data
  01 02 03    # payload
  00 00 03    # padding: 3 octets, the last one is the count
`);

describe('RtpPacket', () => {
  it('parses every field of a hand-made packet as views over the bytes', () => {
    // Put the bytes at an offset inside a larger buffer, as dgram's pooled Buffers are.
    const pool = new Uint8Array(100);
    pool.set(FULL, 37);
    const bytes = pool.subarray(37, 37 + FULL.byteLength);
    const p = new RtpPacket(bytes);
    expect(p.padding).toBe(true);
    expect(p.extension).toBe(true);
    expect(p.csrcCount).toBe(2);
    expect(p.marker).toBe(true);
    expect(p.payloadType).toBe(97);
    expect(p.sequenceNumber).toBe(0xffff);
    expect(p.timestamp).toBe(0xffffffff);
    expect(p.ssrc).toBe(0xdeadbeef);
    expect([p.getCsrc(0), p.getCsrc(1)]).toEqual([1, 2]);
    expect(() => p.getCsrc(2)).toThrow(RangeError);
    expect(p.extensionProfile).toBe(0xbede);
    expect([...p.extensionData]).toEqual([0x10, 0xaa, 0, 0]);
    expect([...p.payload]).toEqual([1, 2, 3]);
    expect(p.paddingLength).toBe(3);
    // No copy: the payload shares the pool's memory.
    expect(p.payload.buffer).toBe(pool.buffer);
    expect(p.payload.byteOffset).toBe(37 + 12 + 8 + 8);
  });

  it('round-trips the hand-made packet byte for byte', () => {
    const p = new RtpPacket(FULL);
    const out = serializeRtp(
      {
        payloadType: p.payloadType,
        sequenceNumber: p.sequenceNumber,
        timestamp: p.timestamp,
        ssrc: p.ssrc,
        marker: p.marker,
        csrcs: [p.getCsrc(0), p.getCsrc(1)],
        extension: { profile: p.extensionProfile, data: p.extensionData },
        paddingLength: p.paddingLength,
      },
      p.payload,
    );
    expect(Buffer.from(out).toString('hex')).toBe(Buffer.from(FULL).toString('hex'));
  });

  it('serialises into a caller buffer at an offset', () => {
    const dst = new Uint8Array(64).fill(0xee);
    const out = serializeRtp(
      { payloadType: 0, sequenceNumber: 1, timestamp: 160, ssrc: 7 },
      hex('ff7f'),
      dst,
      5,
    );
    expect(Buffer.from(dst.subarray(5, 5 + 14)).toString('hex')).toBe('80000001000000a000000007ff7f');
    expect(out.byteOffset).toBe(5);
    expect(dst[4]).toBe(0xee);
    expect(dst[19]).toBe(0xee);
  });

  it('accepts an empty payload (e.g. a keep-alive)', () => {
    expect(new RtpPacket(hex('80 00 0001 00000000 00000001')).payload.byteLength).toBe(0);
  });

  it.each([
    ['empty', '', 'RTP_ERR_TRUNCATED'],
    ['11 bytes', '80 00 0001 00000000 000000', 'RTP_ERR_TRUNCATED'],
    ['version 1', '40 00 0001 00000000 00000001 ff', 'RTP_ERR_VERSION'],
    ['version 0 (e.g. STUN)', '00 01 0000 2112a442 00000000 00000000 0000', 'RTP_ERR_VERSION'],
    ['CC=3 but one CSRC', '83 00 0001 00000000 00000001 00000005', 'RTP_ERR_CSRC'],
    ['X=1 without extension header', '90 00 0001 00000000 00000001 be', 'RTP_ERR_EXTENSION'],
    [
      'extension length beyond the packet',
      '90 00 0001 00000000 00000001 bede0002 00000000',
      'RTP_ERR_EXTENSION',
    ],
    ['padding count 0', 'a0 00 0001 00000000 00000001 ff 00', 'RTP_ERR_PADDING'],
    ['padding longer than the payload', 'a0 00 0001 00000000 00000001 ff 05', 'RTP_ERR_PADDING'],
  ])('rejects %s with %s', (_name, bytes, code) => {
    let err: unknown;
    try {
      new RtpPacket(hex(bytes));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RtpParseError);
    expect((err as RtpParseError).code).toBe(code);
  });

  describe('packets captured in test/fixtures/audio/fox_pcmu_8k.pcap', () => {
    const udp = readPcapUdp(join(FIXTURES, 'audio/fox_pcmu_8k.pcap'));
    const ulaw = readFileSync(join(FIXTURES, 'audio/fox_pcmu_8k.ul'));

    it('are PCMU, 20 ms, consecutive, and carry the .ul file in order', () => {
      expect(udp.length).toBe(ulaw.byteLength / 160);
      let i = 0;
      for (const d of udp) {
        const p = new RtpPacket(d.payload);
        expect(p.payloadType).toBe(0);
        expect(p.sequenceNumber).toBe(i & 0xffff);
        expect(p.timestamp).toBe(i * 160);
        expect(p.ssrc).toBe(0x4c414231); // "LAB1"
        expect(p.payload.byteLength).toBe(160);
        expect(Buffer.from(p.payload).equals(ulaw.subarray(i * 160, i * 160 + 160))).toBe(true);
        i++;
      }
    });

    it('round-trip byte for byte', () => {
      expectRoundTrips(udp);
    });
  });

  describe('packets captured with tshark from a real SIPp call (test/fixtures/rtp/sipp_call_pcmu.pcap)', () => {
    // Captured on lo with `tshark -F pcap -f "udp dst port 46000"` while SIPp (uac_call_pcmu.xml)
    // streamed audio/fox_pcmu_8k.ul by rtp_stream to a SIPp callee (uas.xml) whose media port was 46000.
    const udp = readPcapUdp(join(FIXTURES, 'rtp/sipp_call_pcmu.pcap'));
    const ulaw = readFileSync(join(FIXTURES, 'audio/fox_pcmu_8k.ul'));

    it('parse as one PCMU stream of consecutive 20 ms packets carrying the streamed file', () => {
      expect(udp.length).toBe(ulaw.byteLength / 160);
      const first = new RtpPacket(udp[0]!.payload);
      const payloads: Buffer[] = [];
      udp.forEach((d, i) => {
        const p = new RtpPacket(d.payload);
        expect(d.dstPort).toBe(46000);
        expect(p.payloadType).toBe(0);
        expect(p.ssrc).toBe(first.ssrc);
        expect(p.sequenceNumber).toBe((first.sequenceNumber + i) & 0xffff);
        expect(p.timestamp).toBe((first.timestamp + i * 160) >>> 0);
        payloads.push(Buffer.from(p.payload));
      });
      expect(Buffer.concat(payloads).equals(ulaw)).toBe(true);
      const spanMs = (udp[udp.length - 1]!.timeUs - udp[0]!.timeUs) / 1000;
      expect(spanMs / (udp.length - 1)).toBeGreaterThan(18);
      expect(spanMs / (udp.length - 1)).toBeLessThan(22);
    });

    it('round-trip byte for byte', () => {
      expectRoundTrips(udp);
    });
  });
});

/** Every captured packet parses and serialises back to the same bytes. */
function expectRoundTrips(udp: readonly { payload: Uint8Array }[]): void {
  for (const d of udp) {
    const p = new RtpPacket(d.payload);
    const out = serializeRtp(
      {
        payloadType: p.payloadType,
        sequenceNumber: p.sequenceNumber,
        timestamp: p.timestamp,
        ssrc: p.ssrc,
        marker: p.marker,
      },
      p.payload,
    );
    expect(Buffer.from(out).equals(Buffer.from(d.payload))).toBe(true);
  }
}
