import { describe, expect, it } from 'vitest';
import { LATCH_QUIET_MS, SourceLatch } from '../../../rtp/session/SourceLatch.js';
import { remoteMedia } from './remoteMedia.js';

// The SDP says 127.0.0.2:40000 (RTCP 40001); packets of the caller behind a NAT come from 127.0.0.7
// (loopback stand-ins).
const sdp = remoteMedia;
const SDP = { address: '127.0.0.2', port: 40000 };
const NAT = { address: '127.0.0.7', port: 31000 };
const OTHER = { address: '127.0.0.5', port: 5004 };

/** Offers `n` valid packets with consecutive sequence numbers from `from`; the verdict of each. */
function run(l: SourceLatch, from: typeof NAT, firstSeq: number, n: number, nowMs = 0): boolean[] {
  return Array.from({ length: n }, (_, i) => l.offerRtp(from, (firstSeq + i) & 0xffff, nowMs + 20 * i));
}

describe('SourceLatch (symmetric RTP)', () => {
  it('accepts nothing before the remote description is known', () => {
    const l = new SourceLatch(false);
    expect(l.checkRtp(SDP)).toBe('reject');
    expect(l.checkRtcp(SDP)).toBe('reject');
  });

  it('sends to the SDP address and ports until a source is latched', () => {
    const l = new SourceLatch(false);
    l.setRemote(sdp());
    expect(l.rtpTarget).toEqual({ address: '127.0.0.2', port: 40000 });
    expect(l.rtcpTarget).toEqual({ address: '127.0.0.2', port: 40001 });
  });

  it('latches another source (a NAT) on its 4th consecutive packet, across the sequence wrap', () => {
    const l = new SourceLatch(false);
    l.setRemote(sdp());
    expect(l.checkRtp(NAT)).toBe('candidate');
    expect(run(l, NAT, 0xfffe, 4)).toEqual([false, false, false, true]);
    expect(l.rtpTarget).toEqual(NAT);
    expect(l.checkRtp(NAT)).toBe('accept');
    expect(l.checkRtp(OTHER)).toBe('candidate');
    expect(l.checkRtp({ address: NAT.address, port: NAT.port + 2 })).toBe('candidate');
  });

  it('an invalid packet, a sequence gap or a packet of the SDP address restarts the count', () => {
    const l = new SourceLatch(false);
    l.setRemote(sdp());
    expect(run(l, NAT, 10, 3)).toEqual([false, false, false]);
    expect(l.offerRtp(NAT, undefined, 60)).toBe(false);
    expect(run(l, NAT, 13, 3)).toEqual([false, false, false]);
    expect(l.offerRtp(NAT, 20, 80)).toBe(false);
    expect(run(l, NAT, 21, 2)).toEqual([false, false]);
    l.latchRtp(SDP, 100);
    expect(l.checkRtp(NAT)).toBe('reject');
    expect(l.rtpTarget).toEqual(SDP);
  });

  it('always accepts the SDP address, which takes the latch over; then strangers are rejected', () => {
    const l = new SourceLatch(false);
    l.setRemote(sdp());
    run(l, NAT, 0, 4);
    expect(l.checkRtp(SDP)).toBe('accept');
    expect(l.latchRtp(SDP, 100)).toBe(true);
    expect(l.latchRtp(SDP, 120)).toBe(false);
    expect(l.rtpTarget).toEqual(SDP);
    expect(l.checkRtp(NAT)).toBe('reject');
  });

  it('another source replaces a latched NAT source only after it was silent for LATCH_QUIET_MS', () => {
    const l = new SourceLatch(false);
    l.setRemote(sdp());
    run(l, NAT, 0, 4, 0); // latched at 60 ms
    expect(run(l, OTHER, 0, 4, 100)).toEqual([false, false, false, false]);
    expect(l.offerRtp(OTHER, 4, 60 + LATCH_QUIET_MS)).toBe(true);
    expect(l.rtpTarget).toEqual(OTHER);
  });

  it('strict: only the SDP address and port, for RTP; RTCP from the SDP address on any port', () => {
    const l = new SourceLatch(true);
    l.setRemote(sdp());
    expect(l.checkRtp(NAT)).toBe('reject');
    expect(l.checkRtp({ address: SDP.address, port: 40002 })).toBe('reject');
    expect(l.checkRtp(SDP)).toBe('accept');
    expect(l.checkRtcp({ address: SDP.address, port: 9 })).toBe('accept');
    expect(l.checkRtcp(NAT)).toBe('reject');
  });

  it('RTCP: the SDP address or the latched RTP address on any port; others after 4 valid reports', () => {
    const l = new SourceLatch(false);
    l.setRemote(sdp());
    expect(l.checkRtcp({ address: SDP.address, port: 9 })).toBe('accept');
    expect(l.checkRtcp({ address: NAT.address, port: 31001 })).toBe('candidate');
    run(l, NAT, 0, 4);
    expect(l.checkRtcp({ address: NAT.address, port: 31001 })).toBe('accept');
    l.latchRtcp({ address: NAT.address, port: 31001 });
    l.latchRtcp({ address: SDP.address, port: 40001 });
    expect(l.rtcpTarget).toEqual({ address: NAT.address, port: 31001 });
    expect(l.checkRtcp(OTHER)).toBe('candidate');
    expect([1, 2, 3, 4].map(() => l.offerRtcp(OTHER, true))).toEqual([false, false, false, true]);
    expect(l.rtcpTarget).toEqual(OTHER);
    expect(l.checkRtcp(OTHER)).toBe('accept');
  });

  it('RTCP: an invalid report restarts a candidate count', () => {
    const l = new SourceLatch(false);
    l.setRemote(sdp());
    expect([1, 2, 3].map(() => l.offerRtcp(OTHER, true))).toEqual([false, false, false]);
    expect(l.offerRtcp(OTHER, false)).toBe(false);
    expect([1, 2, 3].map(() => l.offerRtcp(OTHER, true))).toEqual([false, false, false]);
  });

  it('rtcp-mux: RTCP goes where RTP goes, and RTCP sources are not latched', () => {
    const l = new SourceLatch(false);
    l.setRemote(sdp({ rtcpMux: true }));
    l.latchRtcp(OTHER);
    expect(l.rtcpTarget).toEqual(SDP);
    run(l, NAT, 0, 4);
    expect(l.rtcpTarget).toEqual(NAT);
  });

  it('a new SDP address or port clears both latches; the same one (e.g. hold) keeps them', () => {
    const l = new SourceLatch(false);
    l.setRemote(sdp());
    run(l, NAT, 0, 4);
    l.latchRtcp({ address: NAT.address, port: 31001 });
    l.setRemote(sdp({ direction: 'sendonly' }));
    expect(l.rtpTarget).toEqual(NAT);
    l.setRemote(sdp({ port: 40010, rtcpPort: 40011 }));
    expect(l.rtpTarget).toEqual({ address: '127.0.0.2', port: 40010 });
    expect(l.rtcpTarget).toEqual({ address: '127.0.0.2', port: 40011 });
    expect(l.checkRtp(OTHER)).toBe('candidate');
  });
});
