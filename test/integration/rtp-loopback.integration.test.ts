/**
 * RtpSession on real UDP sockets (loopback): a Node sender plays fox_pcmu_8k.ul at 20 ms pace, with
 * two packets dropped and two sent out of order; the session must deliver the audio (where nothing
 * was lost, within 30 dB of SoX's decoding and resampling of the same bytes), send PCMU back to the sender's address (symmetric RTP), send an RTCP report to
 * its RTCP port, and release both ports on close.
 */
import { execFileSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RtpPacket, serializeRtp } from '../../rtp/packet/RtpPacket.js';
import { parseRtcp } from '../../rtp/packet/rtcp.js';
import { RtpSession } from '../../rtp/session/RtpSession.js';
import { FIXTURES } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';

const HOST = '127.0.0.1';
const ulaw = readFileSync(join(FIXTURES, 'audio/fox_pcmu_8k.ul'));
const PACKETS = ulaw.byteLength / 160;

/**
 * The reference audio, independent of rtp/: SoX decodes the same µ-law bytes (G.711) and resamples
 * them to 24 kHz (`rate -v`), as float32 in [−1, 1).
 */
const reference = ((): Float32Array => {
  const f32 = execFileSync(
    'sox',
    ['-t', 'ul', '-r', '8000', '-c', '1', '-', '-t', 'f32', '-r', '24000', '-', 'rate', '-v'],
    { input: ulaw, maxBuffer: 16 << 20 },
  );
  return new Float32Array(f32.buffer, f32.byteOffset, f32.byteLength / 4);
})();

/** Packet k's middle 15 ms (360 samples at 24 kHz) in the reference output, from `r0`. */
const SEG = 360;
const segStart = (k: number): number => k * 480 + 60;

/**
 * Packets loud enough to judge (reference RMS ≥ 100 LSB): on near-silence any lag matches and
 * SoX's filter and ours differ by more than the signal.
 */
const loud = (k: number): boolean => {
  let e = 0;
  for (let i = 0; i < SEG; i++) {
    e += reference[segStart(k) + i]! ** 2;
  }
  return Math.sqrt(e / SEG) * 32768 >= 100;
};

/**
 * True when `out` from `r0 + lag` holds packet k's reference audio with an SNR of at least 30 dB.
 * Our upsampler reaches 23–65 dB per packet against SoX `rate -v` (most above 35), while a lag one
 * sample (1/24 ms) off gives at most 25 dB: the match locates the audio to the sample.
 */
function matches(out: Float32Array, k: number, lag: number): boolean {
  const r0 = segStart(k);
  if (r0 + lag < 0 || r0 + lag + SEG > out.length) {
    return false;
  }
  let sig = 0;
  for (let i = 0; i < SEG; i++) {
    sig += reference[r0 + i]! ** 2;
  }
  const budget = sig / 1000;
  let err = 0;
  for (let i = 0; i < SEG && err <= budget; i++) {
    err += (out[r0 + lag + i]! - reference[r0 + i]!) ** 2;
  }
  return err <= budget;
}

function bind(port: number): Promise<Socket> {
  const s = createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, HOST, () => resolve(s));
  });
}

afterAll(async () => {
  await stopAll();
});

describe('RtpSession on loopback UDP', () => {
  it('receives a paced PCMU stream, answers with RTP and RTCP, and releases its ports', async () => {
    const base = await freePort(HOST, 4);
    const peerBase = await freePort(HOST, 2);
    const peer = await bind(peerBase);
    const peerRtcp = await bind(peerBase + 1);
    const fromSession: Uint8Array[] = [];
    const rtcpFromSession: Uint8Array[] = [];
    peer.on('message', (m) => fromSession.push(Uint8Array.from(m)));
    peerRtcp.on('message', (m) => rtcpFromSession.push(Uint8Array.from(m)));
    const frames: Float32Array[] = [];
    const session = await RtpSession.open(
      {
        host: HOST,
        portMin: base,
        portMax: base + 3,
        random: () => 0.5,
        jitter: { minDelayMs: 20, maxDelayMs: 300 },
      },
      { onFrame: (f) => frames.push(Float32Array.from(f)) },
    );
    expect([base, base + 2]).toContain(session.localPort);
    const rtpPort = session.localPort;
    try {
      session.start({
        address: HOST,
        port: peerBase,
        rtcpPort: peerBase + 1,
        rtcpMux: false,
        codec: 'PCMU',
        payloadType: 0,
        ptime: 20,
        direction: 'sendrecv',
      });
      const dropped = new Set([40, 41]);
      const packet = (k: number): Uint8Array =>
        serializeRtp(
          {
            payloadType: 0,
            sequenceNumber: (0xfff0 + k) & 0xffff,
            timestamp: k * 160,
            ssrc: 0xfeed,
            marker: k === 0,
          },
          ulaw.subarray(k * 160, k * 160 + 160),
        );
      // Paced by the wall clock, like a real phone: packet k at t0 + 20 k ms.
      const t0 = performance.now();
      for (let k = 0; k < PACKETS; k++) {
        const wait = t0 + k * 20 - performance.now();
        if (wait > 0) {
          await new Promise((r) => setTimeout(r, wait));
        }
        if (dropped.has(k)) {
          continue;
        }
        if (k === 100) {
          peer.send(packet(101), session.localPort, HOST);
          peer.send(packet(100), session.localPort, HOST);
        } else if (k !== 101) {
          peer.send(packet(k), session.localPort, HOST);
        }
      }
      // Played out past the last packet (four per 80 ms frame) and the deepest buffer (600 ms):
      // counted in frames of the session's own playout, not in wall time.
      await expect.poll(() => frames.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(PACKETS / 4 + 8);
      const st = session.getStats();
      expect(st.received).toBe(PACKETS - 2);
      expect(st.reordered).toBeGreaterThanOrEqual(1);
      // A stalled event loop on a shared machine may make a packet late (then it is lost too).
      expect(st.lost).toBeGreaterThanOrEqual(2);
      expect(st.lost).toBeLessThanOrEqual(2 + st.late);
      expect(st.malformed).toEqual({});

      // The audio, against SoX's reference, on loud packets received with both neighbours, at one
      // steady lag (timers on a shared machine may force a few delay adaptations, hence the margin).
      const out = new Float32Array(frames.length * 1920);
      frames.forEach((f, i) => out.set(f, i * 1920));
      let lag = -1;
      let matched = 0;
      let eligible = 0;
      for (let k = 1; k < PACKETS - 1; k++) {
        if ([39, 40, 41, 42].includes(k) || !loud(k)) {
          continue;
        }
        eligible++;
        if (lag >= 0 && matches(out, k, lag)) {
          matched++;
          continue;
        }
        for (let l = 0; l < 24 * 1000; l++) {
          if (matches(out, k, l)) {
            lag = l;
            matched++;
            break;
          }
        }
      }
      console.log(
        `loopback: ${matched}/${eligible} loud packets match SoX, lag ${(lag / 24).toFixed(2)} ms, stats ${JSON.stringify(st)}`,
      );
      expect(matched / eligible).toBeGreaterThan(0.7);

      // Symmetric RTP back to the sender, and an RTCP report (first interval 2.05 s with random 0.5).
      expect(fromSession.length).toBeGreaterThan(PACKETS / 2);
      const back = new RtpPacket(fromSession[5]);
      expect(back.payloadType).toBe(0);
      expect(back.ssrc).toBe(session.ssrc);
      expect(back.payload.every((b) => b === 0xff)).toBe(true);
      expect(rtcpFromSession.length).toBeGreaterThanOrEqual(1);
      const report = parseRtcp(rtcpFromSession[0]!)[0]!;
      expect(report.type === 'sr' || report.type === 'rr').toBe(true);
    } finally {
      session.close();
    }
    // Both ports are free again.
    const again = await Promise.all([bind(rtpPort), bind(rtpPort + 1)]);
    again.forEach((s) => s.close());
    peer.close();
    peerRtcp.close();
  });

  it('follows an 80 ms step of the network delay a third of the way in without dropping packets', async () => {
    // Issue 11: through a real UDP call with this step, 34 of 172 packets were dropped as late.
    const base = await freePort(HOST, 4);
    const peerBase = await freePort(HOST, 2);
    const peer = await bind(peerBase);
    const frames: Float32Array[] = [];
    const session = await RtpSession.open(
      { host: HOST, portMin: base, portMax: base + 3, random: () => 0.5 },
      { onFrame: (f) => frames.push(Float32Array.from(f)) },
    );
    try {
      session.start({
        address: HOST,
        port: peerBase,
        rtcpPort: peerBase + 1,
        rtcpMux: false,
        codec: 'PCMU',
        payloadType: 0,
        ptime: 20,
        // The remote only sends: the session receives and sends nothing back.
        direction: 'sendonly',
      });
      const STEP_AT = Math.floor(PACKETS / 3);
      const t0 = performance.now();
      for (let k = 0; k < PACKETS; k++) {
        const wait = t0 + k * 20 + (k >= STEP_AT ? 80 : 0) - performance.now();
        if (wait > 0) {
          await new Promise((r) => setTimeout(r, wait));
        }
        const bytes = serializeRtp(
          { payloadType: 0, sequenceNumber: k, timestamp: k * 160, ssrc: 0xbeef, marker: k === 0 },
          ulaw.subarray(k * 160, k * 160 + 160),
        );
        peer.send(bytes, session.localPort, HOST);
      }
      // Played out past the last packet and its delay: counted in frames of the session's own
      // playout (four packets per 80 ms frame, eight frames of margin), not in wall time.
      await expect.poll(() => frames.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(PACKETS / 4 + 8);
      const st = session.getStats();
      console.log(`loopback step +80 ms: ${JSON.stringify(st)}`);
      expect(st.received).toBe(PACKETS);
      expect(st.late).toBe(0);
      expect(st.lost).toBe(0);
      // Every loud packet's audio is in the output, in order, against SoX's reference (the PLC is
      // the session's, so compare after its constant delay by searching the lag per packet).
      const out = new Float32Array(frames.length * 1920);
      frames.forEach((f, i) => out.set(f, i * 1920));
      let lag = 0;
      let found = 0;
      let eligible = 0;
      for (let k = 1; k < PACKETS - 1; k++) {
        if (!loud(k)) {
          continue;
        }
        eligible++;
        for (let l = lag; l < lag + 24 * 600; l++) {
          if (matches(out, k, l)) {
            lag = l;
            found++;
            break;
          }
        }
      }
      console.log(`loopback step: ${found}/${eligible} loud packets match SoX`);
      // Every other loud packet matches. A 20 ms frame the session concealed (the buffer ran dry
      // during the step; under load, also when timers stalled) or time-scaled to steer its delay
      // does not, and spoils at most three packets: its own, the one sharing its 10 ms blocks
      // through the PLC's 3.75 ms delay line, and the one its 10 ms overlap-add fades into. The
      // session reports both counts; offline 133 of the 142 loud packets match. (c28, two CPU hogs
      // and a load bench beside it: 113 of 142 with 10 concealed and 3 adjusted frames.)
      expect(found).toBeGreaterThanOrEqual(eligible - 3 * (st.concealed + st.adjusted));
    } finally {
      session.close();
      peer.close();
    }
  });
});
