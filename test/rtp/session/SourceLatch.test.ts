import { describe, expect, it } from 'vitest';
import { SourceLatch } from '../../../rtp/session/SourceLatch.js';
import { remoteMedia } from './remoteMedia.js';

// The SDP says 127.0.0.2:40000 (RTCP 40001); packets of the caller behind a NAT come from 127.0.0.7
// (loopback stand-ins).
const sdp = remoteMedia;
const SDP = { address: '127.0.0.2', port: 40000 };
const NAT = { address: '127.0.0.7', port: 31000 };
const OTHER = { address: '127.0.0.5', port: 5004 };

describe('SourceLatch (symmetric RTP)', () => {
  it('accepts nothing before the remote description is known', () => {
    const l = new SourceLatch(false);
    expect(l.acceptRtp(SDP)).toBe(false);
    expect(l.acceptRtcp(SDP)).toBe(false);
  });

  it('sends to the SDP address and ports until a source is latched', () => {
    const l = new SourceLatch(false);
    l.setRemote(sdp());
    expect(l.rtpTarget).toEqual({ address: '127.0.0.2', port: 40000 });
    expect(l.rtcpTarget).toEqual({ address: '127.0.0.2', port: 40001 });
  });

  it('latches the first other source (a NAT), then rejects the rest and sends back to it', () => {
    const l = new SourceLatch(false);
    l.setRemote(sdp());
    expect(l.acceptRtp(NAT)).toBe(true);
    expect(l.latchRtp(NAT)).toBe(true);
    expect(l.latchRtp(NAT)).toBe(false);
    expect(l.acceptRtp(OTHER)).toBe(false);
    expect(l.acceptRtp({ address: NAT.address, port: NAT.port + 2 })).toBe(false);
    expect(l.rtpTarget).toEqual(NAT);
  });

  it('always accepts the SDP address, which takes the latch over', () => {
    const l = new SourceLatch(false);
    l.setRemote(sdp());
    l.latchRtp(NAT);
    expect(l.acceptRtp(SDP)).toBe(true);
    expect(l.latchRtp(SDP)).toBe(true);
    expect(l.rtpTarget).toEqual(SDP);
    expect(l.acceptRtp(NAT)).toBe(false);
  });

  it('strict: only the SDP address and port, for RTP; RTCP from the SDP address on any port', () => {
    const l = new SourceLatch(true);
    l.setRemote(sdp());
    expect(l.acceptRtp(NAT)).toBe(false);
    expect(l.acceptRtp({ address: SDP.address, port: 40002 })).toBe(false);
    expect(l.acceptRtp(SDP)).toBe(true);
    expect(l.acceptRtcp({ address: SDP.address, port: 9 })).toBe(true);
    expect(l.acceptRtcp(NAT)).toBe(false);
  });

  it('not strict: RTCP from anywhere; the first RTCP source becomes the RTCP destination', () => {
    const l = new SourceLatch(false);
    l.setRemote(sdp());
    expect(l.acceptRtcp(OTHER)).toBe(true);
    l.latchRtcp({ address: NAT.address, port: 31001 });
    l.latchRtcp(OTHER);
    expect(l.rtcpTarget).toEqual({ address: NAT.address, port: 31001 });
  });

  it('rtcp-mux: RTCP goes where RTP goes, and RTCP sources are not latched', () => {
    const l = new SourceLatch(false);
    l.setRemote(sdp({ rtcpMux: true }));
    l.latchRtcp(OTHER);
    expect(l.rtcpTarget).toEqual(SDP);
    l.latchRtp(NAT);
    expect(l.rtcpTarget).toEqual(NAT);
  });

  it('a new SDP address or port clears both latches; the same one (e.g. hold) keeps them', () => {
    const l = new SourceLatch(false);
    l.setRemote(sdp());
    l.latchRtp(NAT);
    l.latchRtcp({ address: NAT.address, port: 31001 });
    l.setRemote(sdp({ direction: 'sendonly' }));
    expect(l.rtpTarget).toEqual(NAT);
    l.setRemote(sdp({ port: 40010, rtcpPort: 40011 }));
    expect(l.rtpTarget).toEqual({ address: '127.0.0.2', port: 40010 });
    expect(l.rtcpTarget).toEqual({ address: '127.0.0.2', port: 40011 });
    expect(l.acceptRtp(OTHER)).toBe(true);
  });
});
