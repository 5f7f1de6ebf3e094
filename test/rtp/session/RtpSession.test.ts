import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RtpPortsExhaustedError, RtpSessionStateError } from '../../../rtp/errors.js';
import type { Logger } from '../../../lib/logger.js';
import { RtpPacket, serializeRtp } from '../../../rtp/packet/RtpPacket.js';
import { buildRtcpReport, parseRtcp } from '../../../rtp/packet/rtcp.js';
import { RtpSession, type RemoteMedia, type RtpSessionDelegate } from '../../../rtp/session/RtpSession.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { FIXTURES } from '../../helpers/paths.js';
import { rng } from '../rng.js';
import type { SocketFactory } from '../../../rtp/session/socket.js';
import { MemoryNetwork, type MemorySocket } from './memoryNetwork.js';
import { remoteMedia } from './remoteMedia.js';

const HOST = '127.0.0.1';
const PEER = '127.0.0.2';

function remote(peerPort: number, over: Partial<RemoteMedia> = {}): RemoteMedia {
  return remoteMedia({ address: PEER, port: peerPort, rtcpPort: peerPort + 1, ...over });
}

interface Harness {
  net: MemoryNetwork;
  clock: FakeClock;
  session: RtpSession;
  peer: MemorySocket;
  peerRtcp: MemorySocket;
  frames: { frame: Float32Array; offsetMs: number }[];
  dtmf: { digit: string; durationMs: number }[];
  timeouts: number;
}

const open: RtpSession[] = [];
afterEach(() => {
  open.splice(0).forEach((s) => s.close());
});

async function harness(
  opts: {
    strictSource?: boolean;
    timeoutMs?: number;
    logger?: Logger;
    socketFactory?: SocketFactory;
    sendBack?: 'silence' | 'keepalive' | 'none';
    keepaliveMs?: number;
  } = {},
  over: Partial<RemoteMedia> = {},
): Promise<Harness> {
  const net = new MemoryNetwork();
  const clock = new FakeClock(5000);
  const peer = await net.bind(PEER, 40000);
  const peerRtcp = await net.bind(PEER, 40001);
  const h = { net, clock, peer, peerRtcp, frames: [], dtmf: [], timeouts: 0 } as unknown as Harness;
  const delegate: RtpSessionDelegate = {
    onFrame: (frame, offsetMs) => h.frames.push({ frame: Float32Array.from(frame), offsetMs }),
    onDtmf: (ev) => h.dtmf.push(ev),
    onTimeout: () => h.timeouts++,
  };
  h.session = await RtpSession.open(
    { host: HOST, portMin: 20000, portMax: 20099, clock, socketFactory: net, random: () => 0.5, ...opts },
    delegate,
  );
  open.push(h.session);
  h.session.start(remote(40000, over));
  return h;
}

/** μ-law code → linear, by the ITU-T G.711 formula (independent of rtp/codec). */
function ulawValue(code: number): number {
  const u = ~code & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u >> 4) & 7);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

/** A PCMU packet with a constant payload byte. */
function pcmu(seq: number, ts: number, ssrc = 0x1234, byte = 0x80, pt = 0): Uint8Array {
  return serializeRtp(
    { payloadType: pt, sequenceNumber: seq, timestamp: ts, ssrc },
    new Uint8Array(160).fill(byte),
  );
}

describe('RtpSession: ports', () => {
  it('binds an even RTP port and RTCP on the next one, and releases both on close', async () => {
    const net = new MemoryNetwork();
    const s = await RtpSession.open({ host: HOST, portMin: 20001, portMax: 20010, socketFactory: net });
    expect(s.localPort % 2).toBe(0);
    expect(s.localRtcpPort).toBe(s.localPort + 1);
    expect(s.localPort).toBeGreaterThanOrEqual(20002);
    expect(s.localRtcpPort).toBeLessThanOrEqual(20010);
    expect(net.bound.size).toBe(2);
    s.close();
    s.close();
    expect(net.bound.size).toBe(0);
  });

  it('skips a pair whose RTCP port is taken, releasing the RTP port it had bound', async () => {
    const net = new MemoryNetwork();
    net.blocked.add(20001);
    const s = await RtpSession.open({
      host: HOST,
      portMin: 20000,
      portMax: 20003,
      socketFactory: net,
      random: () => 0,
    });
    expect(s.localPort).toBe(20002);
    expect([...net.bound.keys()].sort()).toEqual([`${HOST}:20002`, `${HOST}:20003`]);
    s.close();
  });

  it('fails with RTP_ERR_NO_PORTS when the range is exhausted, leaving nothing bound', async () => {
    const net = new MemoryNetwork();
    const a = await RtpSession.open({ host: HOST, portMin: 20000, portMax: 20003, socketFactory: net });
    const b = await RtpSession.open({ host: HOST, portMin: 20000, portMax: 20003, socketFactory: net });
    await expect(
      RtpSession.open({ host: HOST, portMin: 20000, portMax: 20003, socketFactory: net }),
    ).rejects.toMatchObject({
      code: 'RTP_ERR_NO_PORTS',
    });
    await expect(
      RtpSession.open({ host: HOST, portMin: 20000, portMax: 20003, socketFactory: net }),
    ).rejects.toBeInstanceOf(RtpPortsExhaustedError);
    expect(net.bound.size).toBe(4);
    a.close();
    b.close();
    expect(net.bound.size).toBe(0);
  });

  it('releases the ports when closed before start, and refuses start after close', async () => {
    const net = new MemoryNetwork();
    const s = await RtpSession.open({ host: HOST, portMin: 20000, portMax: 20099, socketFactory: net });
    s.close();
    expect(net.bound.size).toBe(0);
    expect(() => s.start(remote(40000))).toThrow(RtpSessionStateError);
  });

  it('releases the ports when start() rejects the remote description and the caller closes', async () => {
    const net = new MemoryNetwork();
    const s = await RtpSession.open({ host: HOST, portMin: 20000, portMax: 20099, socketFactory: net });
    expect(() => s.start(remote(40000, { codec: 'G729' as 'PCMU' }))).toThrow(/unsupported codec/);
    s.close();
    expect(net.bound.size).toBe(0);
  });
});

describe('RtpSession: output cadence', () => {
  it('emits a 1920-sample frame every 80 ms of call time from start(), silence before any RTP', async () => {
    const h = await harness();
    h.clock.advance(1000);
    expect(h.frames.map((f) => f.offsetMs)).toEqual([
      0, 80, 160, 240, 320, 400, 480, 560, 640, 720, 800, 880,
    ]);
    expect(h.frames.every((f) => f.frame.length === 1920 && f.frame.every((v) => v === 0))).toBe(true);
  });

  it('keeps exact call time when the event loop runs late (catches up)', async () => {
    const h = await harness();
    // FakeClock fires each timer at its due time; emulate a stalled loop by one big step, then check count.
    h.clock.advance(8000);
    expect(h.frames).toHaveLength(100);
    expect(h.frames.at(-1)!.offsetMs).toBe(7920);
  });
});

describe('RtpSession: receive path', () => {
  it('counts malformed datagrams by code and never throws', async () => {
    const h = await harness();
    const to = h.session.localPort;
    h.peer.send(new Uint8Array([0x80, 0]), to, HOST);
    h.peer.send(new Uint8Array(20).fill(0x40), to, HOST);
    h.peer.send(new Uint8Array([0x83, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]), to, HOST);
    h.clock.advance(100);
    expect(h.session.getStats().malformed).toEqual({
      RTP_ERR_TRUNCATED: 1,
      RTP_ERR_VERSION: 1,
      RTP_ERR_CSRC: 1,
    });
  });

  it('survives 5000 mutated datagrams (seeded) without an unexpected error, frames still flowing', async () => {
    const net = new MemoryNetwork();
    const clock = new FakeClock(0);
    const errors: unknown[] = [];
    const logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: (o: object) => errors.push(o),
    };
    let frames = 0;
    const s = await RtpSession.open(
      { host: HOST, portMin: 20000, portMax: 20099, clock, socketFactory: net, logger },
      { onFrame: () => frames++ },
    );
    open.push(s);
    s.start(remote(40000, { rtcpMux: true }));
    const peer = await net.bind(PEER, 40000);
    const r = rng(99);
    for (let i = 0; i < 5000; i++) {
      const base =
        r() < 0.5
          ? pcmu(i & 0xffff, i * 160, r() < 0.9 ? 7 : 8, 0x55, r() < 0.8 ? 0 : 101)
          : new Uint8Array([0x81, 200, 0, 6, ...new Uint8Array(24)]);
      const d = Uint8Array.from(base);
      for (let k = 0; k < 3; k++) {
        d[Math.floor(r() * d.length)] = Math.floor(r() * 256);
      }
      peer.send(d.subarray(0, Math.floor(r() * d.length) + 1), s.localPort, HOST);
      if (i % 5 === 0) {
        clock.advance(20);
      }
    }
    expect(errors).toEqual([]);
    expect(frames).toBe(Math.floor((1000 * 20) / 80));
    const st = s.getStats();
    expect(Object.values(st.malformed).reduce((a, b) => a + b, 0)).toBeGreaterThan(100);
  });

  it('two strangers taking turns: neither is latched, the SDP address keeps our RTP', async () => {
    const h = await harness();
    const to = h.session.localPort;
    for (let i = 0; i < 10; i++) {
      h.net.inject(pcmu(i, i * 160), { address: '127.0.0.9', port: 51000 }, HOST, to);
      h.net.inject(pcmu(100 + i, i * 160, 0x999), { address: '127.0.0.7', port: 52000 }, HOST, to);
      h.clock.advance(20);
    }
    const st = h.session.getStats();
    expect(st.received).toBe(0);
    expect(st.rejectedSource).toBe(20);
    const sent = h.net.bound.get(`${HOST}:${to}`)!.sent;
    expect(sent.every((p) => p.address === PEER && p.port === 40000)).toBe(true);
  });

  it('update() (re-INVITE): the new SDP address takes the latch, the new codec is decoded', async () => {
    const h = await harness();
    const to = h.session.localPort;
    for (let i = 0; i < 5; i++) {
      h.net.inject(pcmu(i, i * 160), { address: '127.0.0.9', port: 51000 }, HOST, to);
      h.clock.advance(20);
    }
    // The call moves to another media address and to PCMA (payload type 8).
    h.session.update(remote(42000, { address: '127.0.0.3', codec: 'PCMA', payloadType: 8 }));
    const before = h.session.getStats();
    for (let i = 5; i < 60; i++) {
      // The old address keeps sending (and even comes first): the SDP address still wins the latch.
      h.net.inject(pcmu(i, i * 160, 0x1234, 0x80, 0), { address: '127.0.0.9', port: 51000 }, HOST, to);
      h.net.inject(pcmu(i, i * 160, 0x1234, 0xaa, 8), { address: '127.0.0.3', port: 42000 }, HOST, to);
      h.clock.advance(20);
    }
    const st = h.session.getStats();
    expect(st.received - before.received).toBe(55);
    // The old address is a stranger now: all its packets are rejected, whatever their type.
    expect(st.rejectedSource - before.rejectedSource).toBe(55);
    expect(st.unknownPayloadType - before.unknownPayloadType).toBe(0);
    // A-law 0xaa (0xff after inverting the even bits) is the largest positive value, +32256
    // (ITU-T G.711 Table 1a); as μ-law it would be +5372. DC passes the upsampler.
    const last = h.frames.at(-1)!.frame;
    expect(last[960]).toBeCloseTo(32256 / 32768, 4);
  });

  it('in strict mode accepts only the SDP address and port', async () => {
    const h = await harness({ strictSource: true });
    const to = h.session.localPort;
    for (let i = 0; i < 5; i++) {
      h.net.inject(pcmu(i, i * 160), { address: '127.0.0.9', port: 51000 }, HOST, to);
      h.peer.send(pcmu(100 + i, i * 160, 0x999), to, HOST);
      h.clock.advance(20);
    }
    expect(h.session.getStats()).toMatchObject({ received: 5, rejectedSource: 5 });
  });

  it('drops packets of a payload type that was not negotiated', async () => {
    const h = await harness();
    h.peer.send(pcmu(1, 0, 1, 0x80, 8), h.session.localPort, HOST);
    expect(h.session.getStats().unknownPayloadType).toBe(1);
  });

  it('decodes PCMU into frames (μ-law code 0x80 is +32124, ITU-T G.711 Table 2)', async () => {
    const h = await harness();
    for (let i = 0; i < 50; i++) {
      h.peer.send(pcmu(i, i * 160, 0x1234, 0x80), h.session.localPort, HOST);
      h.clock.advance(20);
    }
    h.clock.advance(100);
    // The resampler passes DC unchanged.
    const mid = h.frames[6]!.frame;
    expect(mid[1000]).toBeCloseTo(32124 / 32768, 3);
    expect(h.session.getStats()).toMatchObject({ received: 50, lost: 0, late: 0 });
  });

  it('conceals a lost packet of a 1 kHz tone with G.711 Appendix I PLC (not silence)', async () => {
    const h = await harness();
    const tone = readFileSync(join(FIXTURES, 'audio/tone1k_pcmu_8k.ul'));
    const to = h.session.localPort;
    for (let i = 0; i < 50; i++) {
      if (i !== 30) {
        const pkt = serializeRtp(
          { payloadType: 0, sequenceNumber: i, timestamp: i * 160, ssrc: 0x77 },
          tone.subarray(i * 160, i * 160 + 160),
        );
        h.peer.send(pkt, to, HOST);
      }
      h.clock.advance(20);
    }
    const out = new Float32Array(h.frames.length * 1920);
    h.frames.forEach((f, i) => out.set(f.frame, i * 1920));
    // RMS per 5 ms over the whole tone: no window falls to silence where packet 30 was lost.
    const start = out.findIndex((v) => Math.abs(v) > 0.01);
    let minRms = Infinity;
    for (let w = start + 240; w + 120 < Math.min(out.length, start + 44 * 480); w += 120) {
      let e = 0;
      for (let i = w; i < w + 120; i++) {
        e += out[i]! * out[i]!;
      }
      minRms = Math.min(minRms, Math.sqrt(e / 120));
    }
    const st = h.session.getStats();
    expect(st).toMatchObject({ lost: 1 });
    expect(st.concealed).toBeGreaterThanOrEqual(1);
    // The tone's RMS is ~0.35; a silent gap would bring a window to 0.
    expect(minRms).toBeGreaterThan(0.1);
  });

  it('turns RFC 4733 events into one DTMF event each, end packets deduplicated, out of the audio', async () => {
    const h = await harness();
    const to = h.session.localPort;
    let seq = 0;
    const ev = (ts: number, code: number, end: boolean, duration: number): Uint8Array =>
      serializeRtp(
        { payloadType: 101, sequenceNumber: seq++, timestamp: ts, ssrc: 0x1234, marker: duration === 160 },
        new Uint8Array([code, (end ? 0x80 : 0) | 10, duration >> 8, duration & 0xff]),
      );
    for (let i = 0; i < 10; i++) {
      h.peer.send(pcmu(seq++, i * 160), to, HOST);
      h.clock.advance(20);
    }
    // Digit 5 starting at ts 1600: updates every 20 ms, end at 800 (100 ms) sent three times.
    for (const d of [160, 320, 480, 640, 800]) {
      h.peer.send(ev(1600, 5, d === 800, d), to, HOST);
      h.clock.advance(20);
    }
    h.peer.send(ev(1600, 5, true, 800), to, HOST);
    h.peer.send(ev(1600, 5, true, 800), to, HOST);
    // Then '#' (code 11), 240 ms.
    h.peer.send(ev(4000, 11, true, 1920), to, HOST);
    h.clock.advance(200);
    expect(h.dtmf).toEqual([
      { digit: '5', durationMs: 100 },
      { digit: '#', durationMs: 240 },
    ]);
    const st = h.session.getStats();
    expect(st.dtmfEvents).toBe(2);
    expect(st.lost).toBe(0);
  });

  it('fires onTimeout once after timeoutMs without RTP, not while on hold', async () => {
    const h = await harness({ timeoutMs: 2000 });
    h.clock.advance(1990);
    expect(h.timeouts).toBe(0);
    h.clock.advance(40);
    expect(h.timeouts).toBe(1);
    h.clock.advance(5000);
    expect(h.timeouts).toBe(1);
    // RTP resumes, then the remote holds the call: silence keeps flowing, no timeout.
    h.peer.send(pcmu(0, 0), h.session.localPort, HOST);
    h.session.update(remote(40000, { direction: 'sendonly' }));
    expect(h.session.onHold).toBe(true);
    const before = h.frames.length;
    h.clock.advance(10_000);
    expect(h.timeouts).toBe(1);
    expect(h.frames.length - before).toBe(125);
    // Resumed: the timer starts again from the update.
    h.session.update(remote(40000, { direction: 'sendrecv' }));
    h.clock.advance(2020);
    expect(h.timeouts).toBe(2);
  });

  it('restarts after two sequential packets far from the old sequence (RFC 3550 A.1), same SSRC', async () => {
    const h = await harness();
    const to = h.session.localPort;
    for (let i = 0; i < 60; i++) {
      // The sender restarts its sequence numbers at packet 30 (timestamps continue).
      const seq = i < 30 ? 100 + i : 40000 + i;
      h.peer.send(pcmu(seq, i * 160, 0x4242), to, HOST);
      h.clock.advance(20);
    }
    const st = h.session.getStats();
    // The first packet of the new sequence is dropped as a jump; the second restarts the source.
    expect(st).toMatchObject({ invalidSequence: 1, received: 59, late: 0, ssrcChanges: 0 });
    // The dropped packet is concealed; the restarted stream is re-anchored at the target delay.
    expect(st.concealed).toBeLessThanOrEqual(3);
  });

  it('switches back when the previous SSRC keeps sending after a stray packet with another SSRC', async () => {
    const h = await harness();
    const to = h.session.localPort;
    for (let i = 0; i < 60; i++) {
      h.peer.send(pcmu(i, i * 160, 0xaaaa), to, HOST);
      if (i === 30) {
        h.peer.send(pcmu(5, 777, 0xdead), to, HOST);
      }
      h.clock.advance(20);
    }
    const st = h.session.getStats();
    // Four packets of the real source are dropped before it is recognised as still alive (the 5th).
    expect(st).toMatchObject({ ssrcChanges: 2, invalidSequence: 4, late: 0 });
    expect(st.received).toBe(60 - 4 + 1);
    // And its audio (μ-law 0x80 = +32124) keeps flowing afterwards.
    expect(h.frames.at(-1)!.frame[960]).toBeCloseTo(32124 / 32768, 3);
  });

  it('follows an SSRC change without losing a packet', async () => {
    const h = await harness();
    const to = h.session.localPort;
    for (let i = 0; i < 50; i++) {
      const pkt = i < 25 ? pcmu(i, i * 160, 0xaaaa) : pcmu(7000 + i, 0x10000000 + i * 160, 0xbbbb);
      h.peer.send(pkt, to, HOST);
      h.clock.advance(20);
    }
    // (Concealment would start only after the last packet has played.)
    expect(h.session.getStats()).toMatchObject({
      ssrcChanges: 1,
      received: 50,
      lost: 0,
      late: 0,
      concealed: 0,
    });
  });
});

describe('RtpSession: symmetric RTP latching', () => {
  // Loopback/documentation stand-ins: the SDP names 192.0.2.10 (a private address behind the
  // caller's NAT, say), the NAT's public side is 198.51.100.7, a stranger is 203.0.113.66.
  const SDP_ADDR = '192.0.2.10';
  const NAT = { address: '198.51.100.7', port: 31000 };
  const STRANGER = { address: '203.0.113.66', port: 6000 };
  const sentTo = (h: Harness): string[] =>
    h.net.bound.get(`${HOST}:${h.session.localPort}`)!.sent.map((p) => `${p.address}:${p.port}`);

  it('a stranger sending first is not latched while the SDP address sends', async () => {
    const h = await harness();
    const to = h.session.localPort;
    // The stranger's stream starts 3 packets before the caller's (one short of a latch), then
    // both send.
    for (let i = 0; i < 3; i++) {
      h.net.inject(pcmu(500 + i, i * 160, 0xbad), STRANGER, HOST, to);
      h.clock.advance(20);
    }
    for (let i = 0; i < 20; i++) {
      h.peer.send(pcmu(i, i * 160, 0x1234, 0x80), to, HOST);
      h.net.inject(pcmu(503 + i, (3 + i) * 160, 0xbad), STRANGER, HOST, to);
      h.clock.advance(20);
    }
    const st = h.session.getStats();
    expect(st.received).toBe(20);
    expect(st.rejectedSource).toBe(23);
    expect(st.ssrcChanges).toBe(0);
    // None of our RTP ever went to the stranger.
    expect(new Set(sentTo(h))).toEqual(new Set([`${PEER}:40000`]));
  });

  it('a NATed caller (SDP address silent) is latched after 4 consecutive packets', async () => {
    const h = await harness({}, { address: SDP_ADDR });
    const to = h.session.localPort;
    const received: number[] = [];
    for (let i = 0; i < 10; i++) {
      h.net.inject(pcmu(1000 + i, i * 160), NAT, HOST, to);
      received.push(h.session.getStats().received);
      h.clock.advance(20);
    }
    // Packets 1–3 are dropped; the 4th latches the source (and, with A.1 probation passed, is
    // delivered with the ones after it).
    expect(h.session.getStats().rejectedSource).toBe(3);
    expect(received.slice(0, 3)).toEqual([0, 0, 0]);
    expect(h.session.getStats().received).toBe(7);
    // Our RTP went to the SDP address until the latch, to the NAT's public side after it.
    const targets = sentTo(h);
    expect(targets.at(-1)).toBe(`${NAT.address}:${NAT.port}`);
    expect(targets.slice(0, 3).every((t) => t === `${SDP_ADDR}:40000`)).toBe(true);
  });

  it('the count restarts on a sequence gap or a packet from another source', async () => {
    const h = await harness({}, { address: SDP_ADDR });
    const to = h.session.localPort;
    h.net.inject(pcmu(1, 0), NAT, HOST, to);
    h.net.inject(pcmu(2, 160), NAT, HOST, to);
    h.net.inject(pcmu(3, 320), NAT, HOST, to);
    h.net.inject(pcmu(9, 480, 0xbad), STRANGER, HOST, to);
    h.net.inject(pcmu(4, 480), NAT, HOST, to);
    h.net.inject(pcmu(5, 640), NAT, HOST, to);
    h.net.inject(pcmu(7, 960), NAT, HOST, to); // 6 lost: a gap
    h.net.inject(pcmu(8, 1120), NAT, HOST, to);
    h.net.inject(pcmu(9, 1280), NAT, HOST, to);
    expect(h.session.getStats()).toMatchObject({ rejectedSource: 9, received: 0 });
    h.net.inject(pcmu(10, 1440), NAT, HOST, to);
    expect(h.session.getStats().rejectedSource).toBe(9);
  });

  it('the SDP address takes over at once, and then no stranger can take the latch', async () => {
    const h = await harness();
    const to = h.session.localPort;
    for (let i = 0; i < 5; i++) {
      h.net.inject(pcmu(i, i * 160), NAT, HOST, to);
      h.clock.advance(20);
    }
    h.peer.send(pcmu(100, 0, 0x777), to, HOST);
    h.clock.advance(20);
    expect(sentTo(h).at(-1)).toBe(`${PEER}:40000`);
    const before = h.session.getStats().rejectedSource;
    // The SDP address falls silent; the former NAT source and a stranger send long runs.
    for (let i = 0; i < 100; i++) {
      h.net.inject(pcmu(5 + i, (5 + i) * 160), NAT, HOST, to);
      h.net.inject(pcmu(200 + i, i * 160, 0xbad), STRANGER, HOST, to);
      h.clock.advance(20);
    }
    expect(h.session.getStats().rejectedSource - before).toBe(200);
    expect(sentTo(h).at(-1)).toBe(`${PEER}:40000`);
  });

  it('a latched NAT source is replaced only after it falls silent (NAT rebinding), not by a burst', async () => {
    const h = await harness({}, { address: SDP_ADDR });
    const to = h.session.localPort;
    const REBOUND = { address: NAT.address, port: 31002 };
    for (let i = 0; i < 5; i++) {
      h.net.inject(pcmu(i, i * 160), NAT, HOST, to);
      h.clock.advance(20);
    }
    for (let i = 5; i < 15; i++) {
      h.net.inject(pcmu(i, i * 160), NAT, HOST, to);
      // Between two packets of the caller a stranger bursts 4 sequential packets.
      for (let k = 0; k < 4; k++) {
        h.net.inject(pcmu(300 + 4 * i + k, 0, 0xbad), STRANGER, HOST, to);
      }
      h.clock.advance(20);
    }
    expect(sentTo(h).at(-1)).toBe(`${NAT.address}:${NAT.port}`);
    // The NAT maps the caller to a new port: the old one is silent from now on.
    for (let i = 15; i < 60; i++) {
      h.net.inject(pcmu(i, i * 160), REBOUND, HOST, to);
      h.clock.advance(20);
    }
    expect(sentTo(h).at(-1)).toBe(`${REBOUND.address}:${REBOUND.port}`);
  });

  it('RTCP: from the latched RTP address at once; from a stranger only after 4 in a row', async () => {
    const h = await harness({}, { address: SDP_ADDR });
    const rtcpPort = h.session.localRtcpPort;
    const rr = (ssrc: number): Uint8Array => buildRtcpReport({ ssrc, reports: [], cname: 'x@example' });
    for (let i = 0; i < 5; i++) {
      h.net.inject(pcmu(i, i * 160), NAT, HOST, h.session.localPort);
      h.clock.advance(20);
    }
    // The stranger's reports are rejected (3 of them), the NAT's (its RTP address) accepted.
    for (let i = 0; i < 3; i++) {
      h.net.inject(rr(0xbad), STRANGER, HOST, rtcpPort);
    }
    h.net.inject(rr(0x1234), { address: NAT.address, port: 31001 }, HOST, rtcpPort);
    expect(h.session.getStats()).toMatchObject({ rtcpReceived: 1, rejectedSource: 3 + 3 });
    h.clock.advance(10_000);
    const rtcp = h.net.bound.get(`${HOST}:${rtcpPort}`)!.sent;
    expect(`${rtcp.at(-1)!.address}:${rtcp.at(-1)!.port}`).toBe(`${NAT.address}:31001`);
  });

  it('RTCP before any RTP: a stranger is latched as the RTCP destination after 4 reports in a row', async () => {
    const h = await harness({}, { address: SDP_ADDR });
    const rtcpPort = h.session.localRtcpPort;
    const rr = buildRtcpReport({ ssrc: 0x42, reports: [], cname: 'x@example' });
    for (let i = 0; i < 3; i++) {
      h.net.inject(rr, STRANGER, HOST, rtcpPort);
    }
    expect(h.session.getStats()).toMatchObject({ rtcpReceived: 0, rejectedSource: 3 });
    h.net.inject(rr, STRANGER, HOST, rtcpPort);
    expect(h.session.getStats().rtcpReceived).toBe(1);
  });
});

describe('RtpSession: repeated per-packet failures are logged once, then counted', () => {
  interface Line {
    level: string;
    obj: Record<string, unknown>;
    msg: string | undefined;
  }
  const recorder = (): { logger: Logger; lines: Line[] } => {
    const lines: Line[] = [];
    const at =
      (level: string) =>
      (obj: object, msg?: string): void => {
        lines.push({ level, obj: obj as Record<string, unknown>, msg });
      };
    return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
  };

  it('a stranger, malformed datagrams and an unknown payload type for 61 s: a few lines, counts add up', async () => {
    const { logger, lines } = recorder();
    const h = await harness({ logger });
    const to = h.session.localPort;
    const stranger = { address: '203.0.113.66', port: 6000 };
    for (let i = 0; i < 61 * 50; i++) {
      h.peer.send(pcmu(i, i * 160), to, HOST);
      // A stranger whose sequence numbers jump (never a candidate run), garbage, a video PT.
      h.net.inject(pcmu((i * 7) & 0xffff, i * 160, 0xbad), stranger, HOST, to);
      h.peer.send(Uint8Array.of(0x80, 0, 1), to, HOST);
      h.peer.send(pcmu(i, i * 160, 0x1234, 0x80, 96), to, HOST);
      h.clock.advance(20);
    }
    h.session.close();
    const st = h.session.getStats();
    expect(st).toMatchObject({ rejectedSource: 3050, unknownPayloadType: 3050 });
    expect(st.malformed).toEqual({ RTP_ERR_TRUNCATED: 3050 });
    // Per event, 50 a second for 61 s: the first occurrence (0 s), the first ones after 30 s and
    // 60 s of call time, each with the count of those not logged before it, and the count still
    // pending at close: 1 + 1499 + 1 + 1499 + 49 = 3050.
    const about = (event: string): Line[] => lines.filter((l) => l.obj['event'] === event);
    for (const event of ['rejected-source', 'malformed:RTP_ERR_TRUNCATED', 'unknown-payload-type']) {
      expect(about(event).map((l) => l.obj['repeated'])).toEqual([undefined, 1499, 1499, 49]);
    }
    expect(about('rejected-source')[0]!.obj).toMatchObject({ source: '203.0.113.66:6000' });
    expect(lines.length).toBeLessThan(25);
  });

  it('sending to a port the socket refuses (SDP port 99999): one warning, then summaries', async () => {
    const { logger, lines } = recorder();
    const net = new MemoryNetwork();
    // node:dgram throws ERR_SOCKET_BAD_PORT synchronously for a port above 65535.
    const refusing: SocketFactory = {
      bind: async (host, port) => {
        const s = await net.bind(host, port);
        const send = s.send.bind(s);
        s.send = (data, toPort, address) => {
          if (toPort > 65535) {
            throw Object.assign(new RangeError(`Port should be > 0 and < 65536. Received ${toPort}.`), {
              code: 'ERR_SOCKET_BAD_PORT',
            });
          }
          send(data, toPort, address);
        };
        return s;
      },
    };
    const h = await harness({ logger, socketFactory: refusing }, { port: 99999, rtcpPort: 100000 });
    h.clock.advance(61_000);
    h.session.close();
    const sendErrors = lines.filter((l) => l.obj['event'] === 'rtp-send-error');
    // A packet at 0 ms and every 20 ms up to 61 s: 3051 failed sends, in 4 lines (first, 30 s,
    // 60 s, the count pending at close): 1 + 1499 + 1 + 1499 + 1 + 50 = 3051.
    expect(sendErrors.map((l) => l.obj['repeated'])).toEqual([undefined, 1499, 1499, 50]);
    expect(lines.filter((l) => l.level === 'warn').length).toBeLessThan(12);
  });
});

describe('RtpSession: sending and RTCP', () => {
  it('sends PCMU silence at ptime from our SSRC, marker on the first packet', async () => {
    const h = await harness();
    h.clock.advance(1000);
    const sent = h.net.bound.get(`${HOST}:${h.session.localPort}`)!.sent.map((s) => new RtpPacket(s.data));
    expect(sent).toHaveLength(51);
    expect(sent[0]!.marker).toBe(true);
    expect(sent[1]!.marker).toBe(false);
    for (let i = 1; i < sent.length; i++) {
      expect(sent[i]!.sequenceNumber).toBe((sent[0]!.sequenceNumber + i) & 0xffff);
      expect(sent[i]!.timestamp).toBe((sent[0]!.timestamp + i * 160) >>> 0);
      expect(sent[i]!.ssrc).toBe(h.session.ssrc);
    }
    expect(sent.every((p) => p.payloadType === 0 && p.payload.every((b) => b === 0xff))).toBe(true);
  });

  it('sends a queued prompt, encoded, then silence again', async () => {
    const h = await harness({}, { codec: 'PCMA', payloadType: 8, ptime: 30 });
    h.session.play(new Int16Array(480).fill(1000));
    h.clock.advance(300);
    const sent = h.net.bound.get(`${HOST}:${h.session.localPort}`)!.sent.map((s) => new RtpPacket(s.data));
    // A-law of +1000 is 0xfa (ITU-T G.711 Table 1a; sox agrees); silence is 0xd5.
    expect(sent[1]!.payload.every((b) => b === 0xfa)).toBe(true);
    expect(sent[1]!.payload.byteLength).toBe(240);
    expect(sent.at(-1)!.payload.every((b) => b === 0xd5)).toBe(true);
  });

  it('counts the queued audio that went out (playedSamples), as the wire shows it', async () => {
    const h = await harness();
    // One packet of silence went at 0 ms; the next ones carry the prompt, 160 samples each.
    h.session.play(new Int16Array(1000).fill(1000));
    const audioBytes = (): number =>
      h.net.bound
        .get(`${HOST}:${h.session.localPort}`)!
        .sent.map((s) => new RtpPacket(s.data).payload.filter((b) => b !== 0xff).length)
        .reduce((a, b) => a + b, 0);
    expect(h.session.playedSamples).toBe(0);
    h.clock.advance(60);
    expect(audioBytes()).toBe(480);
    expect(h.session.playedSamples).toBe(480);
    // 1000 = 6 full packets and 40 samples of a seventh; silence after.
    h.clock.advance(200);
    expect(audioBytes()).toBe(1000);
    expect(h.session.playedSamples).toBe(1000);
    h.session.close();
    expect(h.session.playedSamples).toBe(1000);
  });

  it('sends a WAV prompt (8 kHz 16-bit fixture), encoded as PCMU', async () => {
    const h = await harness();
    const wav = readFileSync(join(FIXTURES, 'audio/fox_pcm16_8k.wav'));
    // The samples, read independently of rtp/wav.ts: a canonical 44-byte header, then s16le.
    const samples = new Int16Array(wav.buffer.slice(wav.byteOffset + 44, wav.byteOffset + wav.byteLength));
    h.clock.advance(20);
    h.session.playWav(wav);
    h.clock.advance(1000);
    const sent = h.net.bound.get(`${HOST}:${h.session.localPort}`)!.sent.map((s) => new RtpPacket(s.data));
    const start = sent.findIndex((p) => p.payload.some((b) => b !== 0xff));
    expect(start).toBeGreaterThan(0);
    // Decoded, each sample is within μ-law's quantisation error of the original (G.711: half a step,
    // at most 1/32 of the magnitude plus 2 LSB near zero… bounded generously here by 4 % + 8).
    let checked = 0;
    for (let k = start; k < sent.length; k++) {
      const payload = sent[k]!.payload;
      for (let i = 0; i < payload.length; i++) {
        const x = samples[(k - start) * 160 + i]!;
        checked++;
        expect(Math.abs(ulawValue(payload[i]!) - x)).toBeLessThanOrEqual(Math.abs(x) * 0.04 + 8);
      }
    }
    expect(checked).toBeGreaterThan(40 * 160);
  });

  it('does not send RTP while the remote is sendonly (hold) or inactive', async () => {
    const h = await harness({}, { direction: 'inactive' });
    h.clock.advance(1000);
    expect(h.net.bound.get(`${HOST}:${h.session.localPort}`)!.sent).toHaveLength(0);
  });

  it('keepalive: one silence packet per keepaliveMs, timestamps counting call time, marker after each pause', async () => {
    const h = await harness({ sendBack: 'keepalive', keepaliveMs: 1000 });
    h.clock.advance(5000);
    const sent = h.net.bound.get(`${HOST}:${h.session.localPort}`)!.sent.map((s) => new RtpPacket(s.data));
    // At 0, 1000, …, 5000 ms of call time; 8000 samples (1 s at 8 kHz) apart, consecutive sequence
    // numbers (a sender with silence suppression, RFC 3551 §4.1), each one a talkspurt start.
    expect(sent).toHaveLength(6);
    for (let i = 1; i < sent.length; i++) {
      expect(sent[i]!.sequenceNumber).toBe((sent[0]!.sequenceNumber + i) & 0xffff);
      expect(sent[i]!.timestamp).toBe((sent[0]!.timestamp + i * 8000) >>> 0);
    }
    expect(sent.every((p) => p.marker && p.payloadType === 0 && p.ssrc === h.session.ssrc)).toBe(true);
    expect(sent.every((p) => p.payload.byteLength === 160 && p.payload.every((b) => b === 0xff))).toBe(true);
    expect(h.session.getStats().packetsSent).toBe(6);
  });

  it('keepalive: a queued prompt goes out at ptime, then keep-alives again', async () => {
    const h = await harness({ sendBack: 'keepalive', keepaliveMs: 2000 });
    h.clock.advance(100);
    // 800 samples: 5 packets of 20 ms from the next slot (120 ms) on.
    h.session.play(new Int16Array(800).fill(1000));
    h.clock.advance(4900);
    const sent = h.net.bound.get(`${HOST}:${h.session.localPort}`)!.sent.map((s) => new RtpPacket(s.data));
    const ts0 = sent[0]!.timestamp;
    // Call time of each packet from its timestamp: 0, the prompt at 120…200 ms, then 2200, 4200.
    expect(sent.map((p) => ((p.timestamp - ts0) >>> 0) / 8)).toEqual([
      0, 120, 140, 160, 180, 200, 2200, 4200,
    ]);
    expect(sent.map((p) => p.marker)).toEqual([true, true, false, false, false, false, true, true]);
    expect(sent.slice(1, 6).every((p) => p.payload.every((b) => b !== 0xff))).toBe(true);
    expect(h.session.playedSamples).toBe(800);
  });

  it('none: no RTP at all, RTCP reports still go out', async () => {
    const h = await harness({ sendBack: 'none' });
    const to = h.session.localPort;
    for (let i = 0; i < 500; i++) {
      h.peer.send(pcmu(i, i * 160, 0x4242), to, HOST);
      h.clock.advance(20);
    }
    expect(h.net.bound.get(`${HOST}:${h.session.localPort}`)!.sent).toHaveLength(0);
    const rtcp = h.net.bound.get(`${HOST}:${h.session.localRtcpPort}`)!.sent;
    expect(rtcp.length).toBeGreaterThanOrEqual(1);
    // Receiver reports only (we sent nothing): an RR with the peer's report block.
    expect(parseRtcp(rtcp.at(-1)!.data)[0]).toMatchObject({ type: 'rr', reports: [{ ssrc: 0x4242 }] });
    expect(h.session.getStats()).toMatchObject({ packetsSent: 0, frames: 125 });
  });

  it('sends SR/RR reports with a report block to the RTCP port, and a BYE on close', async () => {
    const h = await harness();
    const to = h.session.localPort;
    for (let i = 0; i < 500; i++) {
      if (i % 10 !== 3) {
        h.peer.send(pcmu(i, i * 160, 0x4242), to, HOST);
      }
      h.clock.advance(20);
    }
    expect(h.peerRtcp).toBeDefined();
    const rtcp = h.net.bound.get(`${HOST}:${h.session.localRtcpPort}`)!.sent;
    expect(rtcp.length).toBeGreaterThanOrEqual(1);
    expect(rtcp.every((r) => r.address === PEER && r.port === 40001)).toBe(true);
    const last = parseRtcp(rtcp.at(-1)!.data);
    expect(last[0]!.type).toBe('sr');
    const sr = last[0]!;
    if (sr.type !== 'sr') {
      throw new Error('not an SR');
    }
    expect(sr.reports).toHaveLength(1);
    expect(sr.reports[0]!.ssrc).toBe(0x4242);
    expect(sr.reports[0]!.fractionLost).toBeGreaterThan(20); // ~10 % = 25/256
    expect(sr.reports[0]!.fractionLost).toBeLessThan(30);
    expect(last[1]).toMatchObject({ type: 'sdes' });
    h.session.close();
    const bye = parseRtcp(rtcp.at(-1)!.data);
    expect(bye.at(-1)).toMatchObject({ type: 'bye', ssrcs: [h.session.ssrc] });
  });

  it('echoes the remote SR as LSR/DLSR in its next report block (RFC 3550 §6.4.1)', async () => {
    const h = await harness();
    const to = h.session.localPort;
    for (let i = 0; i < 10; i++) {
      h.peer.send(pcmu(i, i * 160, 0x4242), to, HOST);
      h.clock.advance(20);
    }
    // SR from the peer's RTCP port: NTP 0xe9a1b2c3.80004000 → LSR 0xb2c38000.
    const sr = new Uint8Array([
      0x80, 200, 0, 6, 0, 0, 0x42, 0x42, 0xe9, 0xa1, 0xb2, 0xc3, 0x80, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0,
      0, 6, 0x40,
    ]);
    h.peerRtcp.send(sr, h.session.localRtcpPort, HOST);
    const at = h.clock.now();
    h.clock.advance(8000);
    const rtcp = h.net.bound.get(`${HOST}:${h.session.localRtcpPort}`)!.sent;
    const last = rtcp.at(-1)!;
    const t = h.clock.now();
    const [first] = parseRtcp(last.data);
    const blocks = first!.type === 'sr' || first!.type === 'rr' ? first!.reports : [];
    expect(blocks[0]!.lastSr).toBe(0xb2c38000);
    // DLSR: the time between the SR's arrival and the report, in 1/65536 s (report sent ≤ t).
    expect(blocks[0]!.delaySinceLastSr).toBeGreaterThan(0);
    expect(blocks[0]!.delaySinceLastSr).toBeLessThanOrEqual(((t - at) * 65536) / 1000);
    expect(h.session.getStats().rtcpReceived).toBe(1);
  });

  it('with rtcp-mux sends and receives RTCP on the RTP port', async () => {
    const h = await harness({}, { rtcpMux: true });
    const to = h.session.localPort;
    h.clock.advance(10_000);
    const sent = h.net.bound.get(`${HOST}:${to}`)!.sent;
    const reports = sent.filter((s) => s.data[1]! >= 200 && s.data[1]! <= 204);
    expect(reports.length).toBeGreaterThanOrEqual(1);
    expect(reports[0]!.port).toBe(40000);
    // An RR from the peer on the RTP port is RTCP, not a malformed RTP packet.
    h.peer.send(new Uint8Array([0x80, 201, 0, 1, 0, 0, 0, 9]), to, HOST);
    expect(h.session.getStats()).toMatchObject({ rtcpReceived: 1, malformed: {} });
  });
});
