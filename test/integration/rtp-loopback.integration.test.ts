/**
 * RtpSession on real UDP sockets (loopback): a Node sender plays fox_pcmu_8k.ul at 20 ms pace, with
 * two packets dropped and two sent out of order; the session must deliver the audio (bit-exact where
 * nothing was lost), send PCMU back to the sender's address (symmetric RTP), send an RTCP report to
 * its RTCP port, and release both ports on close.
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeUlaw } from '../../rtp/codec/g711.js';
import { Upsampler8to24 } from '../../rtp/dsp/Upsampler8to24.js';
import { RtpPacket, serializeRtp } from '../../rtp/packet/RtpPacket.js';
import { parseRtcp } from '../../rtp/packet/rtcp.js';
import { RtpSession } from '../../rtp/session/RtpSession.js';
import { FIXTURES } from '../helpers/paths.js';
import { freePort } from '../helpers/ports.js';
import { stopAll } from '../helpers/processes.js';

const HOST = '127.0.0.1';
const ulaw = readFileSync(join(FIXTURES, 'audio/fox_pcmu_8k.ul'));
const PACKETS = ulaw.byteLength / 160;

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

      // The audio: bit-exact against the reference (decoded and upsampled in one go) on packets
      // received with both neighbours, at one steady lag (timers on a shared machine may force a
      // few delay adaptations, hence the margin).
      const pcm = new Int16Array(PACKETS * 160);
      decodeUlaw(ulaw, pcm);
      const ref = new Float32Array(pcm.length * 3);
      new Upsampler8to24().process(pcm, ref, 0);
      const out = new Float32Array(frames.length * 1920);
      frames.forEach((f, i) => out.set(f, i * 1920));
      const SEG = 360;
      const at = (k: number, lag: number): boolean => {
        const r0 = k * 480 + 60;
        if (r0 + lag < 0 || r0 + lag + SEG > out.length) {
          return false;
        }
        for (let i = 0; i < SEG; i++) {
          if (Math.abs(out[r0 + lag + i]! - ref[r0 + i]!) > 1e-4) {
            return false;
          }
        }
        return true;
      };
      let lag = -1;
      let matched = 0;
      let eligible = 0;
      for (let k = 1; k < PACKETS - 1; k++) {
        if ([39, 40, 41, 42].includes(k)) {
          continue;
        }
        eligible++;
        if (lag >= 0 && at(k, lag)) {
          matched++;
          continue;
        }
        for (let l = 0; l < 24 * 1000; l++) {
          if (at(k, l)) {
            lag = l;
            matched++;
            break;
          }
        }
      }
      console.log(
        `loopback: ${matched}/${eligible} packets bit-exact, lag ${(lag / 24).toFixed(2)} ms, stats ${JSON.stringify(st)}`,
      );
      expect(matched / eligible).toBeGreaterThan(0.7);

      // Symmetric RTP back to the sender, and an RTCP report (first interval 2.05 s with random 0.5).
      expect(fromSession.length).toBeGreaterThan(PACKETS / 2);
      const back = new RtpPacket(fromSession[5]!);
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
      await new Promise((r) => setTimeout(r, 600));
      const st = session.getStats();
      console.log(`loopback step +80 ms: ${JSON.stringify(st)}`);
      expect(st.received).toBe(PACKETS);
      expect(st.late).toBe(0);
      expect(st.lost).toBe(0);
      // Every packet's audio is in the output, in order (bit-exact through the upsampler; the PLC
      // is the session's, so compare after its constant delay by searching the lag per packet).
      const pcm = new Int16Array(PACKETS * 160);
      decodeUlaw(ulaw, pcm);
      const ref = new Float32Array(pcm.length * 3);
      new Upsampler8to24().process(pcm, ref, 0);
      const out = new Float32Array(frames.length * 1920);
      frames.forEach((f, i) => out.set(f, i * 1920));
      let lag = 0;
      let found = 0;
      for (let k = 1; k < PACKETS - 1; k++) {
        const r0 = k * 480 + 60;
        const hit = (l: number): boolean => {
          for (let i = 0; i < 360; i++) {
            if (r0 + l + i >= out.length || Math.abs(out[r0 + l + i]! - ref[r0 + i]!) > 1e-4) {
              return false;
            }
          }
          return true;
        };
        for (let l = lag; l < lag + 24 * 600; l++) {
          if (hit(l)) {
            lag = l;
            found++;
            break;
          }
        }
      }
      // A packet whose frame was time-scaled by a timer stall on a shared machine may not match.
      expect(found / (PACKETS - 2)).toBeGreaterThan(0.9);
    } finally {
      session.close();
      peer.close();
    }
  });
});
