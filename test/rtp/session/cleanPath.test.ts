/**
 * A clean path through the whole session (issue 11, item 4): fox_pcmu_8k.ul played 4 times as RTP
 * with no loss, 0.5 ms of random jitter, and the receiving event loop stalling 30 ms every 1–3 s.
 * During a stall nothing runs: the output ticks due in it run at its end, then (timers before I/O,
 * as in Node) the datagrams that arrived during it are read, stamped with its end. The output must
 * be the decoded input exactly (through the PLC's constant 3.75 ms delay and the upsampler): one
 * lag for every packet, nothing concealed, nothing time-scaled, run after run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Clock, TimerHandle } from '../../../lib/clock.js';
import { decodeUlaw } from '../../../rtp/codec/g711.js';
import { G711Plc } from '../../../rtp/dsp/G711Plc.js';
import { Upsampler8to24 } from '../../../rtp/dsp/Upsampler8to24.js';
import { serializeRtp } from '../../../rtp/packet/RtpPacket.js';
import { RtpSession } from '../../../rtp/session/RtpSession.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { FIXTURES } from '../../helpers/paths.js';
import { rng } from '../rng.js';
import { MemoryNetwork } from './memoryNetwork.js';
import { remoteMedia } from './remoteMedia.js';

const ulaw = readFileSync(join(FIXTURES, 'audio/fox_pcmu_8k.ul'));
const PER_FILE = ulaw.byteLength / 160;
const PACKETS = 4 * PER_FILE;

/** A clock whose timers cannot fire inside a stall (the event loop is blocked): they fire at its end. */
function stallingClock(
  fake: FakeClock,
  stalls: { at: number; ms: number }[],
): Clock & { unblocked(t: number): number } {
  const unblocked = (t: number): number => {
    for (const s of stalls) {
      if (t >= s.at && t < s.at + s.ms) {
        return s.at + s.ms;
      }
    }
    return t;
  };
  return {
    now: () => fake.now(),
    setTimeout: (fn, ms): TimerHandle => fake.setTimeout(fn, unblocked(fake.now() + ms) - fake.now()),
    clearTimeout: (h) => fake.clearTimeout(h),
    unblocked,
  };
}

describe('a clean path with event-loop stalls, through the whole session', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`plays the decoded input exactly, at one lag, with nothing concealed (seed ${seed})`, async () => {
      const r = rng(seed);
      const fake = new FakeClock(10_000);
      const t0 = fake.now();
      const stalls: { at: number; ms: number }[] = [];
      for (let t = t0 + 500 + r() * 1000; t < t0 + PACKETS * 20 + 1000; t += 1000 + r() * 2000) {
        stalls.push({ at: t, ms: 30 });
      }
      const clock = stallingClock(fake, stalls);
      const net = new MemoryNetwork();
      const peer = await net.bind('127.0.0.2', 40000);
      const frames: Float32Array[] = [];
      const session = await RtpSession.open(
        { host: '127.0.0.1', portMin: 20000, portMax: 20099, clock, socketFactory: net },
        { onFrame: (frame) => frames.push(Float32Array.from(frame)) },
      );
      try {
        session.start(remoteMedia({ telephoneEventPayloadType: undefined }));
        const phase = r() * 20;
        for (let k = 0; k < PACKETS; k++) {
          const bytes = serializeRtp(
            { payloadType: 0, sequenceNumber: k, timestamp: k * 160, ssrc: 0x5eed, marker: k === 0 },
            ulaw.subarray((k % PER_FILE) * 160, (k % PER_FILE) * 160 + 160),
          );
          const at = t0 + phase + k * 20 + r() * 0.5;
          const read = clock.unblocked(at);
          // Read after the timers of the same instant when a stall held it.
          fake.setTimeout(
            () => peer.send(bytes, session.localPort, '127.0.0.1'),
            (read === at ? at : read + 0.001) - t0,
          );
        }
        // Until the last packets arrive (after them the PLC conceals the end of the stream).
        fake.advance(phase + (PACKETS - 2) * 20);
        expect(session.getStats()).toMatchObject({ concealed: 0, adjusted: 0, late: 0, lost: 0 });
        fake.advance(500);

        // Reference: the input decoded, through the PLC (a constant delay when nothing is lost)
        // and the upsampler, in one go.
        const pcm = new Int16Array(PACKETS * 160);
        for (let k = 0; k < PACKETS; k++) {
          decodeUlaw(ulaw.subarray((k % PER_FILE) * 160, (k % PER_FILE) * 160 + 160), pcm.subarray(k * 160));
        }
        const plcOut = new Int16Array(pcm.length);
        const plc = new G711Plc();
        for (let i = 0; i < pcm.length; i += 80) {
          plc.addGood(pcm.subarray(i, i + 80), plcOut.subarray(i, i + 80));
        }
        const ref = new Float32Array(plcOut.length * 3);
        new Upsampler8to24().process(plcOut, ref, 0);
        const out = new Float32Array(frames.length * 1920);
        frames.forEach((f, i) => out.set(f, i * 1920));
        // The lag of the first packet's audio, then every packet at that same lag.
        const same = (refStart: number, lag: number, n: number): boolean => {
          for (let i = 0; i < n; i++) {
            if (out[refStart + lag + i] !== ref[refStart + i]) {
              return false;
            }
          }
          return true;
        };
        let lag = -1;
        for (let l = 0; l < 400 * 24 && lag < 0; l++) {
          if (same(480 * 2, l, 480)) {
            lag = l;
          }
        }
        expect(lag).toBeGreaterThan(0);
        let mismatched = 0;
        for (let k = 1; k < PACKETS - 1; k++) {
          mismatched += same(k * 480, lag, 480) ? 0 : 1;
        }
        expect(mismatched).toBe(0);
      } finally {
        session.close();
      }
    });
  }
});
