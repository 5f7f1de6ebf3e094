/**
 * SRTP in a session (RFC 3711 with SDES keys): the peer is an SrtpContext under the peer key (itself
 * checked against the RFC 3711 vectors and libsrtp's packets in test/rtp/srtp/), sending over the
 * in-memory network. What must hold: authentic audio is decoded (μ-law 0x80 is +32124, ITU-T G.711
 * Table 2), a tampered packet and a replay are dropped and counted and never decoded, what we send
 * (RTP and RTCP) is SRTP/SRTCP under our key, and a rekey (re-INVITE) loses no packet in flight.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../../lib/logger.js';
import { RtpPacket, serializeRtp } from '../../../rtp/packet/RtpPacket.js';
import { buildRtcpReport, parseRtcp } from '../../../rtp/packet/rtcp.js';
import { RtpSession, type RemoteMedia } from '../../../rtp/session/RtpSession.js';
import { REKEY_OVERLAP_MS, SessionSrtp } from '../../../rtp/session/SessionSrtp.js';
import { SrtpContext } from '../../../rtp/srtp/SrtpContext.js';
import { srtpSuite } from '../../../rtp/srtp/suites.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { FIXTURES } from '../../helpers/paths.js';
import { MemoryNetwork, type MemorySocket } from './memoryNetwork.js';
import { remoteMedia } from './remoteMedia.js';

const HOST = '127.0.0.1';
const PEER = '127.0.0.2';
const SUITE = 'AES_CM_128_HMAC_SHA1_80';
const PEER_KEY = Buffer.alloc(30, 0x11);
const PEER_KEY_2 = Buffer.alloc(30, 0x22);
const OUR_KEY = Buffer.alloc(30, 0x33);

function srtp(remoteKey: Buffer, localKey = OUR_KEY): RemoteMedia['srtp'] {
  return { suite: SUITE, remoteKey, localKey };
}

function peerContext(key: Buffer): SrtpContext {
  return new SrtpContext(srtpSuite(SUITE)!, key);
}

function pcmu(seq: number, ssrc = 0x1234, byte = 0x80): Uint8Array {
  return serializeRtp(
    { payloadType: 0, sequenceNumber: seq & 0xffff, timestamp: (seq * 160) >>> 0, ssrc },
    new Uint8Array(160).fill(byte),
  );
}

interface Line {
  obj: Record<string, unknown>;
  msg: string | undefined;
}

const open: RtpSession[] = [];
afterEach(() => {
  open.splice(0).forEach((s) => s.close());
});

async function harness(over: Partial<RemoteMedia> = {}) {
  const net = new MemoryNetwork();
  const clock = new FakeClock(5000);
  const peer: MemorySocket = await net.bind(PEER, 40000);
  const peerRtcp: MemorySocket = await net.bind(PEER, 40001);
  const frames: Float32Array[] = [];
  const lines: Line[] = [];
  const at = (obj: object, msg?: string): void =>
    void lines.push({ obj: obj as Record<string, unknown>, msg });
  const logger: Logger = { debug: () => undefined, info: at, warn: at, error: at };
  const session = await RtpSession.open(
    { host: HOST, portMin: 20000, portMax: 20099, clock, socketFactory: net, random: () => 0.5, logger },
    { onFrame: (f) => frames.push(Float32Array.from(f)) },
  );
  open.push(session);
  session.start(remoteMedia({ address: PEER, port: 40000, rtcpPort: 40001, srtp: srtp(PEER_KEY), ...over }));
  const send = (data: Uint8Array): void => peer.send(data, session.localPort, HOST);
  return { net, clock, peer, peerRtcp, session, frames, lines, send };
}

describe('RtpSession with SRTP', () => {
  it('decodes authentic SRTP audio; its stats say SRTP', async () => {
    const h = await harness();
    const ctx = peerContext(PEER_KEY);
    for (let i = 0; i < 50; i++) {
      h.send(ctx.protectRtp(pcmu(i)));
      h.clock.advance(20);
    }
    h.clock.advance(100);
    expect(h.frames[6]![1000]).toBeCloseTo(32124 / 32768, 3);
    expect(h.session.getStats()).toMatchObject({
      received: 50,
      lost: 0,
      srtp: SUITE,
      srtpAuthFailed: 0,
      srtpReplayed: 0,
      malformed: {},
    });
  });

  it('drops a tampered packet and a replay before decoding: counted, logged once, never heard', async () => {
    const h = await harness();
    const ctx = peerContext(PEER_KEY);
    for (let i = 0; i < 50; i++) {
      const packet = ctx.protectRtp(pcmu(i));
      if (i % 10 === 5) {
        // A forged payload (one bit) where silence-level audio (0xff → 0) would otherwise play.
        const forged = Uint8Array.from(packet);
        forged[20]! ^= 0x01;
        h.send(forged);
      } else {
        h.send(packet);
        if (i % 10 === 7) {
          h.send(Uint8Array.from(packet)); // replayed
        }
      }
      h.clock.advance(20);
    }
    // A plain RTP packet is not authentic either.
    h.send(pcmu(60));
    h.clock.advance(200);
    expect(h.session.getStats()).toMatchObject({
      received: 45,
      srtpAuthFailed: 6,
      srtpReplayed: 5,
      malformed: {},
    });
    h.session.close();
    const auth = h.lines.filter((l) => l.obj['event'] === 'srtp-auth');
    expect(auth.map((l) => l.obj['repeated'])).toEqual([undefined, 5]);
    expect(auth[0]?.msg).toBe('srtp packets failing authentication dropped');
    expect(h.lines.filter((l) => l.obj['event'] === 'srtp-replay').map((l) => l.obj['repeated'])).toEqual([
      undefined,
      4,
    ]);
  });

  it('sends SRTP and SRTCP under our key, which the peer authenticates and decrypts', async () => {
    const h = await harness();
    const ours = peerContext(OUR_KEY);
    h.clock.advance(12_000);
    const rtp = h.net.bound.get(`${HOST}:${h.session.localPort}`)!.sent;
    expect(rtp.length).toBeGreaterThan(500);
    for (const { data } of rtp.slice(0, 20)) {
      expect(data.length).toBe(12 + 160 + 10);
      const plain = new RtpPacket(ours.unprotectRtp(Uint8Array.from(data)));
      expect(plain.ssrc).toBe(h.session.ssrc);
      expect([...plain.payload].every((b) => b === 0xff)).toBe(true); // μ-law silence
    }
    const rtcp = h.net.bound.get(`${HOST}:${h.session.localRtcpPort}`)!.sent;
    expect(rtcp.length).toBeGreaterThan(0);
    const report = parseRtcp(ours.unprotectRtcp(Uint8Array.from(rtcp[0]!.data)));
    expect(report[0]).toMatchObject({ type: 'sr', ssrc: h.session.ssrc });
  });

  it('takes the peer SRTCP reports (and drops forged ones)', async () => {
    const h = await harness();
    const ctx = peerContext(PEER_KEY);
    const rr = buildRtcpReport({ ssrc: 0x1234, reports: [], cname: 'peer@example' });
    h.peerRtcp.send(ctx.protectRtcp(rr), h.session.localRtcpPort, HOST);
    const forged = ctx.protectRtcp(rr);
    forged[9]! ^= 0x80;
    h.peerRtcp.send(forged, h.session.localRtcpPort, HOST);
    expect(h.session.getStats()).toMatchObject({ rtcpReceived: 1, srtpAuthFailed: 1 });
  });

  it.each(['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM', 'AEAD_AES_256_GCM'])(
    "takes baresip's SRTCP APP alone (reduced-size, RFC 5506) from its capture (%s); its clear one is dropped",
    async (suite) => {
      const cap = JSON.parse(readFileSync(join(FIXTURES, `srtp-baresip-${suite}.json`), 'utf8')) as {
        key: string;
        rtcp: string[];
      };
      const remoteKey = Buffer.from(cap.key, 'base64');
      const h = await harness({ srtp: { suite, remoteKey, localKey: Buffer.alloc(remoteKey.length, 0x33) } });
      // rtcp[0]: the APP "PING" in clear before its SRTP is on; rtcp[1]: the same APP as SRTCP.
      for (const hex of cap.rtcp) {
        h.peerRtcp.send(Buffer.from(hex, 'hex'), h.session.localRtcpPort, HOST);
      }
      expect(h.session.getStats()).toMatchObject({
        rtcpReceived: 1,
        malformed: { SRTP_ERR_TRUNCATED: 1 },
        srtpAuthFailed: 0,
      });
    },
  );

  it('follows a sequence number wrap (rollover) and an SSRC change under the same key', async () => {
    const h = await harness();
    const ctx = peerContext(PEER_KEY);
    for (let i = 0; i < 20; i++) {
      h.send(ctx.protectRtp(pcmu(65_526 + i)));
      h.clock.advance(20);
    }
    expect(ctx.rolloverCounter(0x1234)).toBe(1);
    for (let i = 0; i < 20; i++) {
      h.send(ctx.protectRtp(pcmu(500 + i, 0x5678)));
      h.clock.advance(20);
    }
    expect(h.session.getStats()).toMatchObject({ received: 40, srtpAuthFailed: 0, ssrcChanges: 1 });
  });

  it('rekey by re-INVITE: packets in flight under the old key still play, then only the new key', async () => {
    const h = await harness();
    const oldCtx = peerContext(PEER_KEY);
    const newCtx = peerContext(PEER_KEY_2);
    for (let i = 0; i < 10; i++) {
      h.send(oldCtx.protectRtp(pcmu(i)));
      h.clock.advance(20);
    }
    h.session.update(remoteMedia({ address: PEER, port: 40000, rtcpPort: 40001, srtp: srtp(PEER_KEY_2) }));
    // Sent before the peer switched, arriving after our answer; then the new key, one old straggler.
    h.send(oldCtx.protectRtp(pcmu(10)));
    h.send(oldCtx.protectRtp(pcmu(11)));
    h.clock.advance(40);
    h.send(newCtx.protectRtp(pcmu(13)));
    h.send(oldCtx.protectRtp(pcmu(12)));
    for (let i = 14; i < 20; i++) {
      h.clock.advance(20);
      h.send(newCtx.protectRtp(pcmu(i)));
    }
    expect(h.session.getStats()).toMatchObject({ received: 20, lost: 0, srtpAuthFailed: 0 });
    // Once the overlap has passed, the old key is refused.
    h.clock.advance(REKEY_OVERLAP_MS);
    h.send(oldCtx.protectRtp(pcmu(21)));
    expect(h.session.getStats().srtpAuthFailed).toBe(1);
  });

  it('a re-INVITE repeating the same keys keeps the replay list (a replay is still refused)', async () => {
    const h = await harness();
    const ctx = peerContext(PEER_KEY);
    const packets = [1, 2, 3].map((seq) => ctx.protectRtp(pcmu(seq)));
    packets.forEach((p) => h.send(Uint8Array.from(p)));
    h.session.update(remoteMedia({ address: PEER, port: 40000, rtcpPort: 40001, srtp: srtp(PEER_KEY) }));
    h.send(Uint8Array.from(packets[2]!));
    expect(h.session.getStats()).toMatchObject({ received: 3, srtpReplayed: 1 });
  });

  it('refuses a suite it does not implement (RTP_ERR_CONFIG)', async () => {
    const h = await harness();
    expect(() =>
      h.session.update(
        remoteMedia({ srtp: { suite: 'AES_256_CM_HMAC_SHA1_80', remoteKey: PEER_KEY, localKey: OUR_KEY } }),
      ),
    ).toThrow(expect.objectContaining({ code: 'RTP_ERR_CONFIG' }));
  });
});

describe('SessionSrtp and the lifetime of the peer key', () => {
  it('drops the peer packets beyond the lifetime its SDP gave (SRTP_ERR_KEY_EXPIRED)', () => {
    const s = new SessionSrtp();
    s.configure({ suite: SUITE, remoteKey: PEER_KEY, localKey: OUR_KEY, remoteLifetime: 2 });
    const peer = peerContext(PEER_KEY);
    s.unprotectRtp(peer.protectRtp(pcmu(1)), 0);
    s.unprotectRtp(peer.protectRtp(pcmu(2)), 20);
    expect(() => s.unprotectRtp(peer.protectRtp(pcmu(3)), 40)).toThrow(
      expect.objectContaining({ code: 'SRTP_ERR_KEY_EXPIRED' }),
    );
  });
});
