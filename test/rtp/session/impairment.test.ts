/**
 * Impairment test: a sender plays test/fixtures/audio/fox_pcmu_8k.ul (twice) as RTP through an
 * in-memory network with 5 % random loss (seeded), up to 50 ms of jitter (which reorders), 3 %
 * duplicates, a sequence-number wrap, a timestamp wrap and an SSRC change mid-stream. The session's
 * output must be continuous (exactly one 80 ms frame per 80 ms of call time), aligned (a steady
 * lag, bounded by the jitter buffer's maximum), and equal to the reference audio (the .ul decoded
 * and upsampled in one go) wherever packets were not lost.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeUlaw } from '../../../rtp/codec/g711.js';
import { Upsampler8to24 } from '../../../rtp/dsp/Upsampler8to24.js';
import { serializeRtp } from '../../../rtp/packet/RtpPacket.js';
import { RtpSession } from '../../../rtp/session/RtpSession.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { FIXTURES } from '../../helpers/paths.js';
import { rng } from '../rng.js';
import { MemoryNetwork } from './memoryNetwork.js';
import { remoteMedia } from './remoteMedia.js';

const ulaw = readFileSync(join(FIXTURES, 'audio/fox_pcmu_8k.ul'));
const PER_FILE = ulaw.byteLength / 160; // 172 packets, 3.44 s
const PACKETS = 2 * PER_FILE;
const SWITCH = 200; // first packet of the second SSRC

describe('impairment: fox_pcmu_8k.ul through loss, jitter, reordering, duplicates, wraps, SSRC change', () => {
  it('comes out continuous, aligned, and equal to the reference wherever packets were not lost', async () => {
    const net = new MemoryNetwork();
    const clock = new FakeClock(10_000);
    const peer = await net.bind('127.0.0.2', 40000);
    const frames: { frame: Float32Array; offsetMs: number }[] = [];
    const session = await RtpSession.open(
      {
        host: '127.0.0.1',
        portMin: 20000,
        portMax: 20099,
        clock,
        socketFactory: net,
        jitter: { minDelayMs: 20, maxDelayMs: 200 },
      },
      { onFrame: (frame, offsetMs) => frames.push({ frame: Float32Array.from(frame), offsetMs }) },
    );
    try {
      // (no telephone-event negotiated)
      session.start(remoteMedia({ telephoneEventPayloadType: undefined }));
      const t0 = clock.now();
      const r = rng(20260126);
      // Exactly 5 % of the packets lost, chosen at random (seeded).
      const order = Array.from({ length: PACKETS }, (_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const x = Math.floor(r() * (i + 1));
        [order[i], order[x]] = [order[x]!, order[i]!];
      }
      const lost = new Set(order.slice(0, Math.round(PACKETS * 0.05)));
      let sent = 0;
      let duplicates = 0;
      for (let k = 0; k < PACKETS; k++) {
        const second = k >= SWITCH;
        const j = second ? k - SWITCH : k;
        const bytes = serializeRtp(
          {
            payloadType: 0,
            // Source A wraps its sequence number at packet 80 and its timestamp at packet 100.
            sequenceNumber: second ? 30000 + j : (0xffff - 79 + j) & 0xffff,
            timestamp: second ? (0x12345678 + j * 160) >>> 0 : (0xffffffff - 99 * 160 + 1 + j * 160) >>> 0,
            ssrc: second ? 0xbbbb0002 : 0xaaaa0001,
            marker: j === 0,
          },
          ulaw.subarray((k % PER_FILE) * 160, (k % PER_FILE) * 160 + 160),
        );
        if (lost.has(k)) {
          continue;
        }
        const at = 1 + k * 20 + r() * 50;
        clock.setTimeout(() => peer.send(bytes, session.localPort, '127.0.0.1'), at);
        sent++;
        if (r() < 0.03) {
          duplicates++;
          clock.setTimeout(() => peer.send(bytes, session.localPort, '127.0.0.1'), at + 1 + r() * 30);
        }
      }
      const durationMs = PACKETS * 20 + 400;
      clock.advance(durationMs);
      const st = session.getStats();

      // Continuous: one frame per 80 ms of call time, offsets without a gap.
      expect(frames).toHaveLength(Math.floor(durationMs / 80));
      frames.forEach((f, i) => expect(f.offsetMs).toBe(i * 80));
      expect(clock.now() - t0).toBe(durationMs);

      // The network did what we asked, and the session saw it.
      expect(lost.size).toBe(17);
      expect(st.received).toBe(sent + duplicates);
      expect(st.duplicated).toBe(duplicates);
      expect(st.ssrcChanges).toBe(1);
      expect(st.reordered).toBeGreaterThan(20);
      // Loss is counted from sequence gaps between played packets: a loss at the very start or
      // right at the SSRC change leaves no gap within one source.
      const uncountable = [0, SWITCH - 1, SWITCH].filter((k) => lost.has(k)).length;
      expect(st.lost + st.late).toBeGreaterThanOrEqual(lost.size - uncountable);
      expect(st.lost).toBeLessThanOrEqual(lost.size + st.late);

      // Reference: the whole file decoded and upsampled in one go.
      const pcm = new Int16Array(PACKETS * 160);
      for (let k = 0; k < PACKETS; k++) {
        decodeUlaw(ulaw.subarray((k % PER_FILE) * 160, (k % PER_FILE) * 160 + 160), pcm.subarray(k * 160));
      }
      const ref = new Float32Array(pcm.length * 3);
      new Upsampler8to24().process(pcm, ref, 0);
      const out = new Float32Array(frames.length * 1920);
      frames.forEach((f, i) => out.set(f.frame, i * 1920));

      // For each packet received with both neighbours, find its audio in the output: the lag
      // (output position − reference position) is tracked from packet to packet.
      const SEG = 360;
      const matchesAt = (refStart: number, lag: number): boolean => {
        const o = refStart + lag;
        if (o < 0 || o + SEG > out.length) {
          return false;
        }
        for (let i = 0; i < SEG; i++) {
          if (Math.abs(out[o + i]! - ref[refStart + i]!) > 1e-4) {
            return false;
          }
        }
        return true;
      };
      let lag = -1;
      let eligible = 0;
      let matched = 0;
      const lags: number[] = [];
      for (let k = 1; k < PACKETS - 1; k++) {
        if (lost.has(k) || lost.has(k - 1) || lost.has(k + 1) || k === SWITCH) {
          continue;
        }
        eligible++;
        const refStart = k * 480 + 60;
        if (lag >= 0 && matchesAt(refStart, lag)) {
          matched++;
          continue;
        }
        // Search: the lag is a call-time delay between 0 and the buffer's maximum plus a margin.
        let found = -1;
        for (let l = 0; l <= 400 * 24 && found < 0; l++) {
          if (matchesAt(refStart, l)) {
            found = l;
          }
        }
        if (found >= 0) {
          lag = found;
          lags.push(found / 24);
          matched++;
        }
      }
      console.log(
        `impairment: ${sent} sent, ${lost.size} lost, ${duplicates} duplicated, ${st.reordered} reordered; ` +
          `${matched}/${eligible} packets bit-exact in the output; lags (ms): ${lags.map((l) => l.toFixed(2)).join(' ')}; ` +
          `delay ${st.currentDelayMs.toFixed(1)} ms (target ${st.targetDelayMs.toFixed(1)}), concealed frames ${st.concealed}, adjusted frames ${st.adjusted}`,
      );
      // Aligned: every lag within the jitter buffer's bounds (plus resampler/PLC delay).
      expect(lags.length).toBeGreaterThan(0);
      expect(Math.max(...lags)).toBeLessThanOrEqual(200 + 20 + 10);
      // Equal to the reference wherever packets were not lost (some packets fall on frames that
      // were time-scaled while the delay adapted; those are the only exceptions).
      expect(matched / eligible).toBeGreaterThanOrEqual(0.9);
      // Output stays in range.
      expect(out.every((v) => Number.isFinite(v) && Math.abs(v) <= 1)).toBe(true);
    } finally {
      session.close();
    }
    expect(net.bound.size).toBe(1); // only the test sender's socket remains
  });
});
