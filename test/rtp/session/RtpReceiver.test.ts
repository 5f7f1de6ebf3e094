import { describe, expect, it } from 'vitest';
import { PCMA, PCMU } from '../../../rtp/codec/table.js';
import { JitterBuffer } from '../../../rtp/jitter/JitterBuffer.js';
import { RepeatedLog, silentLogger } from '../../../lib/logger.js';
import { systemClock } from '../../../lib/clock.js';
import { serializeRtp } from '../../../rtp/packet/RtpPacket.js';
import { buildRtcpReport } from '../../../rtp/packet/rtcp.js';
import type { DtmfEvent } from '../../../rtp/session/DtmfReceiver.js';
import { RtpReceiver } from '../../../rtp/session/RtpReceiver.js';
import { SourceLatch } from '../../../rtp/session/SourceLatch.js';
import type { RemoteMedia } from '../../../rtp/session/types.js';
import { remoteMedia } from './remoteMedia.js';

const SDP = { address: '127.0.0.2', port: 40000 };
const NAT = { address: '127.0.0.7', port: 31000 };

function setup(over: Partial<RemoteMedia> = {}, strict = false) {
  const latch = new SourceLatch(strict);
  const jb = new JitterBuffer();
  const dtmf: DtmfEvent[] = [];
  const rx = new RtpReceiver(
    silentLogger,
    latch,
    jb,
    13,
    { onDtmf: (ev) => dtmf.push(ev) },
    new RepeatedLog(silentLogger, systemClock),
  );
  const r = remoteMedia(over);
  latch.setRemote(r);
  rx.configure(r, r.codec === 'PCMA' ? PCMA : PCMU);
  return { latch, jb, rx, dtmf };
}

const rtp = (
  seq: number,
  ts: number,
  pt = 0,
  payload: Uint8Array = new Uint8Array(160).fill(0xff),
  ssrc = 0x1234,
): Uint8Array => serializeRtp({ payloadType: pt, sequenceNumber: seq, timestamp: ts, ssrc }, payload);

/** RFC 4733 §2.3 payload: event, E|R|volume, duration (big-endian). */
const te = (code: number, end: boolean, duration: number): Uint8Array =>
  new Uint8Array([code, (end ? 0x80 : 0) | 10, duration >> 8, duration & 0xff]);

describe('RtpReceiver', () => {
  it('holds the first packet on RFC 3550 A.1 probation, then delivers both to the jitter buffer', () => {
    const { rx, jb } = setup();
    expect(rx.receiveRtp(rtp(100, 8000), SDP, 0)).toBe(true);
    expect(rx.counters.received).toBe(0);
    expect(rx.source?.validated).toBe(false);
    expect(rx.receiveRtp(rtp(101, 8160), SDP, 20)).toBe(true);
    expect(rx.counters).toMatchObject({ datagrams: 2, received: 2 });
    expect(rx.source?.validated).toBe(true);
    expect(jb.getStats().received).toBe(2);
  });

  it('decodes audio on arrival: μ-law 0x80 is +32124, A-law 0xD5 is +8 (G.711 Tables 2a, 1a)', () => {
    for (const [codec, pt, byte, value] of [
      ['PCMU', 0, 0x80, 32124],
      ['PCMA', 8, 0xd5, 8],
    ] as const) {
      const { rx, jb } = setup({ codec, payloadType: pt });
      for (let k = 0; k < 10; k++) {
        rx.receiveRtp(rtp(k, k * 160, pt, new Uint8Array(160).fill(byte)), SDP, k * 20);
      }
      // Pulled at 200 ms the buffer plays received audio (its default target is 25 ms).
      expect(jb.pull(200)).toBe('audio');
      expect(jb.frame.every((v) => v === value)).toBe(true);
    }
  });

  it('drops payload types that were not negotiated from the SDP address; a stranger is not latched by them', () => {
    const { rx, latch } = setup();
    expect(rx.receiveRtp(rtp(1, 160, 18), SDP, 0)).toBe(false);
    expect(rx.counters.unknownPayloadType).toBe(1);
    for (let i = 0; i < 6; i++) {
      expect(rx.receiveRtp(rtp(1 + i, 160 * i, 18), NAT, 20 * i)).toBe(false);
    }
    expect(rx.counters).toMatchObject({ unknownPayloadType: 1, rejectedSource: 6 });
    expect(latch.rtpTarget).toEqual(SDP);
  });

  it('latches another source after 4 consecutive packets, then rejects a third one', () => {
    const { rx, latch } = setup();
    const got = [1, 2, 3, 4].map((i) => rx.receiveRtp(rtp(i, 160 * i), NAT, 20 * i));
    expect(got).toEqual([false, false, false, true]);
    expect(latch.rtpTarget).toEqual(NAT);
    expect(rx.receiveRtp(rtp(5, 800), { address: '127.0.0.8', port: 31000 }, 100)).toBe(false);
    expect(rx.counters).toMatchObject({ datagrams: 5, rejectedSource: 4 });
  });

  it('counts malformed datagrams by error code', () => {
    const { rx } = setup();
    expect(rx.receiveRtp(new Uint8Array([0x80, 0, 0]), SDP, 0)).toBe(false);
    expect(rx.receiveRtp(new Uint8Array(12).fill(0x40), SDP, 0)).toBe(false);
    rx.receiveRtcp(new Uint8Array([0x80, 201, 0]), SDP, 0);
    expect(rx.counters.malformed).toEqual({
      RTP_ERR_TRUNCATED: 1,
      RTP_ERR_VERSION: 1,
      RTCP_ERR_TRUNCATED: 1,
    });
  });

  it('reports a DTMF digit once and keeps its span out of the audio (silence, not loss)', () => {
    const { rx, jb, dtmf } = setup();
    rx.receiveRtp(rtp(1, 0), SDP, 0);
    rx.receiveRtp(rtp(2, 160), SDP, 20);
    // Digit 5 from ts 320: 100 ms at 8 kHz = 800 units; the end packet is sent three times.
    rx.receiveRtp(rtp(3, 320, 101, te(5, false, 160)), SDP, 40);
    rx.receiveRtp(rtp(4, 320, 101, te(5, true, 800)), SDP, 140);
    rx.receiveRtp(rtp(5, 320, 101, te(5, true, 800)), SDP, 140);
    rx.receiveRtp(rtp(6, 320, 101, te(5, true, 800)), SDP, 140);
    expect(dtmf).toEqual([{ digit: '5', durationMs: 100 }]);
    expect(rx.counters).toMatchObject({ received: 6, dtmfEvents: 1 });
    expect(jb.getStats().received).toBe(6);
  });

  it('reports an event still in progress on flush()', () => {
    const { rx, dtmf } = setup();
    rx.receiveRtp(rtp(1, 0, 101, te(11, false, 160)), SDP, 0);
    rx.receiveRtp(rtp(2, 0, 101, te(11, false, 400)), SDP, 30);
    rx.flush();
    expect(dtmf).toEqual([{ digit: '#', durationMs: 50 }]);
  });

  it('takes LSR/DLSR from a sender report of the current source (RFC 3550 §6.4.1)', () => {
    const { rx } = setup();
    rx.receiveRtp(rtp(1, 0), SDP, 0);
    rx.receiveRtp(rtp(2, 160), SDP, 20);
    const sr = buildRtcpReport({
      ssrc: 0x1234,
      sender: { ntpSec: 0x12345678, ntpFrac: 0x9abcdef0, rtpTimestamp: 160, packetCount: 2, octetCount: 320 },
      reports: [],
      cname: 'peer@127.0.0.2',
    });
    rx.receiveRtcp(sr, { address: SDP.address, port: 40001 }, 1000);
    expect(rx.counters.rtcpReceived).toBe(1);
    // LSR: the middle 32 bits of the NTP timestamp; DLSR: 0.5 s in 1/65536 s.
    expect(rx.source!.report(1500)).toMatchObject({ lastSr: 0x56789abc, delaySinceLastSr: 32768 });
  });

  it('with rtcp-mux, takes RTCP from the RTP socket without counting it as a datagram', () => {
    const { rx } = setup({ rtcpMux: true });
    const rr = buildRtcpReport({ ssrc: 0x1234, reports: [], cname: 'peer@127.0.0.2' });
    expect(rx.receiveRtp(rr, SDP, 0)).toBe(false);
    expect(rx.counters).toMatchObject({ datagrams: 0, rtcpReceived: 1 });
  });

  it('takes reduced-size RTCP (RFC 5506: an APP or a BYE alone) and counts it; not RTCP stays malformed', () => {
    const { rx } = setup();
    const from = { address: SDP.address, port: 40001 };
    rx.receiveRtcp(Buffer.from('80cc000363a8760f50494e47504f4e47', 'hex'), from, 0);
    rx.receiveRtcp(Buffer.from('81cb000100001234', 'hex'), from, 10);
    rx.receiveRtcp(buildRtcpReport({ ssrc: 0x1234, reports: [], cname: 'peer@127.0.0.2' }), from, 20);
    rx.receiveRtcp(Buffer.from('8060000100001234', 'hex'), from, 30);
    rx.receiveRtcp(Buffer.from('80cc000363a8760f', 'hex'), from, 40);
    expect(rx.counters).toMatchObject({
      rtcpReceived: 3,
      rtcpReducedSize: 2,
      malformed: { RTCP_ERR_FIRST_PACKET: 1, RTCP_ERR_LENGTH: 1 },
    });
  });

  it('strict: rejects RTCP from another address', () => {
    const { rx } = setup({}, true);
    const rr = buildRtcpReport({ ssrc: 0x1234, reports: [], cname: 'peer@127.0.0.2' });
    rx.receiveRtcp(rr, NAT, 0);
    expect(rx.counters).toMatchObject({ rejectedSource: 1, rtcpReceived: 0 });
  });

  it('ignores everything before configure()', () => {
    const rx = new RtpReceiver(
      silentLogger,
      new SourceLatch(false),
      new JitterBuffer(),
      13,
      { onDtmf: () => undefined },
      new RepeatedLog(silentLogger, systemClock),
    );
    expect(rx.receiveRtp(rtp(1, 0), SDP, 0)).toBe(false);
    expect(rx.counters.datagrams).toBe(0);
  });
});
