import { describe, expect, it } from 'vitest';
import { JitterBuffer } from '../../../rtp/jitter/JitterBuffer.js';
import { rng } from '../rng.js';
import { concealedMs, coverage, runNet, sender, type Coverage, type NetRun } from './netsim.js';

/**
 * The jitter buffer under the network events a call meets, each judged on the output audio against
 * the input (the counting ramp of netsim.ts): how much of the input comes out, in order, and how
 * much output was concealed. A fake clock drives everything in memory.
 */

/** Input samples of `count` packets. */
const total = (count: number): number => count * 160;

/** Output index of input sample `i` minus `i`: the lag at which it was played (samples). */
function lagAt(cov: Coverage, i: number): number {
  return cov.where[i]! - i;
}

/** Concealed output (ms) up to the last input sample played (the stream's end is not a loss). */
function concealedWhileSending(run: NetRun, cov: Coverage): number {
  let last = cov.where.length - 1;
  while (last > 0 && cov.where[last]! < 0) {
    last--;
  }
  // The frame of the last sample is concealed after it: the stream ended.
  return concealedMs(run.kinds.slice(0, Math.floor(cov.where[last]! / 160)));
}

describe('JitterBuffer: network events, judged on the audio', () => {
  describe('a clean path (0 loss, 0.5 ms jitter) with 30 ms event-loop hiccups', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      it(`plays every input sample once, in order, unaltered, with no concealment (seed ${seed})`, () => {
        const r = rng(seed);
        const count = 3000; // one minute
        const packets = sender(count, { t0: 1000 + r() * 20, delay: () => 20 + r() * 0.5 });
        // A 30 ms stall of the event loop every 1–3 s.
        const hiccups = [];
        for (let t = 2000 + r() * 1000; t < 62_000; t += 1000 + r() * 2000) {
          hiccups.push({ at: t, ms: 30 });
        }
        const jb = new JitterBuffer();
        const run = runNet(jb, packets, 63_000, { startMs: r() * 20, hiccups });
        const cov = coverage(run.samples, total(count));
        expect(cov.covered).toBe(total(count));
        // Identical to the input: one constant lag from the first sample to the last.
        const lag = lagAt(cov, 0);
        expect(lagAt(cov, total(count) - 1)).toBe(lag);
        expect(concealedWhileSending(run, cov)).toBe(0);
        expect(jb.getStats()).toMatchObject({ late: 0, lost: 0, adjustedFrames: 0 });
      });
    }
  });

  describe('a sustained step up of the network delay (a route change) 10 s into the call', () => {
    for (const step of [40, 80, 150, 300]) {
      it(`+${step} ms: conceals no more than the step, drops nothing after it`, () => {
        const r = rng(step);
        const count = 1500;
        const packets = sender(count, { delay: (_k, sent) => 20 + r() * 0.5 + (sent >= 11_000 ? step : 0) });
        const jb = new JitterBuffer();
        const run = runNet(jb, packets, 1000 + count * 20 + 1000);
        const cov = coverage(run.samples, total(count));
        // Every input sample from the step on comes out, in order.
        const firstAfter = 500 * 160;
        let missingAfter = 0;
        for (let i = firstAfter; i < total(count); i++) {
          if (cov.where[i]! < 0) {
            missingAfter++;
          }
        }
        expect(missingAfter).toBe(0);
        expect(jb.getStats().late).toBe(0);
        expect(concealedWhileSending(run, cov)).toBeLessThanOrEqual(step + 20);
        // Afterwards the buffer is back to its clean-path delay.
        expect(run.delays.at(-1)!).toBeLessThanOrEqual(100);
      });
    }
  });

  it('a delay spike (a 300 ms freeze, then the burst at once): nothing dropped, the delay shrinks back', () => {
    const count = 1500;
    // Packets sent during [10 s, 10.3 s) are held and arrive together at 10.3 s (+ 20 ms transit).
    const packets = sender(count, {
      delay: (_k, sent) => (sent >= 10_000 && sent < 10_300 ? 10_300 - sent : 0) + 20,
    });
    const jb = new JitterBuffer();
    const run = runNet(jb, packets, 1000 + count * 20 + 1000);
    const cov = coverage(run.samples, total(count));
    expect(jb.getStats()).toMatchObject({ late: 0, lost: 0 });
    expect(concealedWhileSending(run, cov)).toBeLessThanOrEqual(320);
    // What is missing is what time-scaling took out to bring the delay back (300 ms and as much
    // again in cross-fades, at most): 2 · 2400 samples of 240 000.
    expect(cov.ratio).toBeGreaterThan(1 - 4800 / 240_000);
    // Back within 20 ms of the delay before the spike by 10 s after it (pulls are 20 ms apart).
    const before = run.delays[Math.floor(9_500 / 20)]!;
    expect(run.delays[Math.floor(20_300 / 20)]!).toBeLessThanOrEqual(before + 20);
  });

  for (const pauseMs of [500, 2000]) {
    it(`a sender pausing ${pauseMs} ms without advancing its timestamps: all audio out, no extra delay after`, () => {
      const count = 1500;
      const packets = sender(count, { delay: () => 20, pauses: [{ atPacket: 500, ms: pauseMs }] });
      const jb = new JitterBuffer();
      const run = runNet(jb, packets, 1000 + count * 20 + pauseMs + 1000);
      const cov = coverage(run.samples, total(count));
      expect(cov.covered).toBe(total(count));
      expect(jb.getStats().late).toBe(0);
      // The wait is concealed (60 ms at most), then silence.
      expect(concealedWhileSending(run, cov)).toBeLessThanOrEqual(80);
      // The audio after the pause plays at the same lag past the pause as before it.
      const lagBefore = lagAt(cov, 499 * 160);
      const lagAfter = lagAt(cov, 1499 * 160);
      expect(lagAfter - lagBefore).toBeGreaterThanOrEqual(pauseMs * 8 - 160);
      expect(lagAfter - lagBefore).toBeLessThanOrEqual(pauseMs * 8 + 160);
    });
  }

  for (const drift of [0.001, -0.001]) {
    it(`sender clock ${drift > 0 ? 'slow' : 'fast'} by 0.1 % for 10 minutes: nothing lost, delay bounded`, () => {
      const count = 30_000;
      const r = rng(7);
      const packets = sender(count, { drift, delay: () => 20 + r() * 0.5 });
      const jb = new JitterBuffer();
      const run = runNet(jb, packets, 1000 + count * 20 * (1 + drift) + 1000);
      const cov = coverage(run.samples, total(count));
      expect(jb.getStats()).toMatchObject({ late: 0, lost: 0 });
      expect(concealedWhileSending(run, cov)).toBe(0);
      // 0.1 % of 10 minutes is 0.6 s taken out or put in by time-scaling, at a cost of its crossfades.
      expect(cov.ratio).toBeGreaterThan(0.997);
      const settled = run.delays.slice(500, Math.floor((count * 20) / 20));
      expect(Math.max(...settled)).toBeLessThanOrEqual(110);
      expect(Math.min(...settled)).toBeGreaterThanOrEqual(40);
    });
  }

  describe('late packets the recogniser would rather wait for (maxDelayMs, shrinkPercent)', () => {
    /** Packets sent during [10 s, 10 s + freezeMs) arrive together at its end (+ 20 ms transit). */
    const freeze = (freezeMs: number) =>
      sender(1000, {
        delay: (_k, sent) => 20 + (sent >= 10_000 && sent < 10_000 + freezeMs ? 10_000 + freezeMs - sent : 0),
      });

    it('waits for the burst after a 150 ms freeze (within maxDelayMs) instead of dropping it', () => {
      const jb = new JitterBuffer();
      const run = runNet(jb, freeze(150), 23_000);
      const cov = coverage(run.samples, total(1000));
      expect(jb.getStats()).toMatchObject({ late: 0, lost: 0, waits: 1 });
      // What is missing is what time-scaling took out to bring the delay back (150 ms and as
      // much again in cross-fades, at most): 2 · 1200 samples of 160 000.
      expect(cov.ratio).toBeGreaterThan(1 - 2400 / 160_000);
    });

    it('with maxDelayMs 100 waits only as far as that: the oldest of a 300 ms burst are dropped', () => {
      const jb = new JitterBuffer({ maxDelayMs: 100 });
      const run = runNet(jb, freeze(300), 23_000);
      const cov = coverage(run.samples, total(1000));
      const st = jb.getStats();
      // 15 packets in the burst; those that would need more than 100 ms of delay are dropped.
      expect(st.late).toBeGreaterThanOrEqual(8);
      expect(st.late).toBeLessThanOrEqual(13);
      expect(cov.where[450 * 160]).toBe(-1);
      expect(cov.where[464 * 160]).toBeGreaterThanOrEqual(0);
      expect(Math.max(...run.delays)).toBeLessThanOrEqual(100 + 20);
    });

    it('shrinks the delay back at the configured rate: 20 % is faster than 5 %', () => {
      const settle = (shrinkPercent: number): number => {
        const jb = new JitterBuffer({ shrinkPercent });
        const run = runNet(jb, freeze(300), 23_000);
        const before = run.delays[Math.floor(9_500 / 20)]!;
        // From the highest delay (the burst, once the estimator saw the network's base again).
        const from = run.delays.indexOf(Math.max(...run.delays));
        const back = run.delays.findIndex((d, i) => i > from && d <= before + 20);
        return (back - from) * 20;
      };
      const fast = settle(20);
      const slow = settle(5);
      // The burst's spread counts as jitter until it leaves the 128-packet window (2.6 s); then
      // about 250 ms of excess go at 20 % in ≈ 1.3 s of output, at 5 % in ≈ 5 s (measured 3.9 s
      // and 6.9 s in all).
      expect(fast).toBeLessThan(2_600 + 1_900);
      expect(slow).toBeGreaterThan(2_600 + 3_400);
      expect(slow - fast).toBeGreaterThan(2_500);
    });
  });

  it('moves the next talkspurt (RTP marker bit) earlier to drop an excess delay, without time-scaling speech', () => {
    // 1 s talkspurts and 1 s pauses (no packets, timestamps advancing); a 300 ms freeze in the
    // third talkspurt makes the buffer wait; shrinking by time-scaling is nearly off (1 %).
    const packets = sender(1500, {
      delay: (_k, sent) => 20 + (sent >= 5_200 && sent < 5_500 ? 5_500 - sent : 0),
    })
      .filter((p) => Math.floor(p.seq / 50) % 2 === 0)
      .map((p, i) => ({ ...p, seq: i, marker: p.seq % 50 === 0 }));
    const jb = new JitterBuffer({ shrinkPercent: 1 });
    const run = runNet(jb, packets, 32_000);
    const st = jb.getStats();
    expect(st).toMatchObject({ late: 0, lost: 0, waits: 1 });
    expect(st.talkspurtMoves).toBeGreaterThanOrEqual(1);
    // The speech itself is all there: each talkspurt once, in order, not a sample missing.
    const speech = packets.length * 160;
    const out = coverage(run.samples, 1500 * 160);
    let missing = 0;
    for (const p of packets) {
      for (let i = p.first; i < p.first + 160; i++) {
        missing += out.where[i]! < 0 ? 1 : 0;
      }
    }
    expect(missing / speech).toBeLessThan(0.002);
    // The burst's spread is jitter until it leaves the estimator's window (2.6 s): the talkspurt
    // at 7 s starts at that raised target, the one at 11 s back at the clean one.
    expect(run.delays[Math.floor(11_500 / 20)]!).toBeLessThanOrEqual(70);
    expect(st.adjustedFrames).toBeLessThanOrEqual(20);
  });
});
