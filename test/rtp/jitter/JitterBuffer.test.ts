import { describe, expect, it } from 'vitest';
import { JitterBuffer, type Concealer, type FrameKind } from '../../../rtp/jitter/JitterBuffer.js';
import { rng } from '../rng.js';

/**
 * A linear 16-bit test "codec" (big-endian samples) so the output can be checked sample by sample:
 * the sender's sample i has the value i mod 32768, so a continuous output counts up by one.
 */
const l16 = (src: Uint8Array, dst: Int16Array): number => {
  const n = src.byteLength >> 1;
  for (let i = 0; i < n; i++) {
    dst[i] = (src[2 * i]! << 8) | src[2 * i + 1]!;
  }
  return n;
};
function payloadAt(firstSample: number, samples = 160): Uint8Array {
  const p = new Uint8Array(samples * 2);
  for (let i = 0; i < samples; i++) {
    const v = (firstSample + i) % 32768;
    p[2 * i] = v >> 8;
    p[2 * i + 1] = v & 0xff;
  }
  return p;
}

interface SimPacket {
  at: number;
  seq: number;
  ts: number;
  payload: Uint8Array;
  cn?: boolean;
  newSource?: boolean;
}

/** Runs packets (any order, arrival times `at`) and pulls every 20 ms from `pullPhase` to `endMs`. */
function simulate(
  jb: JitterBuffer,
  packets: SimPacket[],
  endMs: number,
  pullPhase = 7,
): { samples: Int16Array; kinds: FrameKind[] } {
  const sorted = [...packets].sort((a, b) => a.at - b.at);
  const frames = Math.floor((endMs - pullPhase) / 20);
  const samples = new Int16Array(frames * 160);
  const kinds: FrameKind[] = [];
  let p = 0;
  for (let f = 0; f < frames; f++) {
    const t = pullPhase + f * 20;
    while (p < sorted.length && sorted[p]!.at <= t) {
      const x = sorted[p++]!;
      if (x.newSource) {
        jb.newSource();
      }
      jb.push(x.seq, x.ts, x.payload, x.at, x.cn ? null : l16);
    }
    kinds.push(jb.pull(t));
    samples.set(jb.frame, f * 160);
  }
  return { samples, kinds };
}

/** Steady sender: packet k sent at k × 20 ms × (1 − drift) plus `delay(k)`. */
function stream(
  count: number,
  opts: { seq0?: number; ts0?: number; drift?: number; delay?: (k: number) => number; ptime?: number } = {},
): SimPacket[] {
  const out: SimPacket[] = [];
  const ptime = opts.ptime ?? 20;
  const n = ptime * 8;
  for (let k = 0; k < count; k++) {
    out.push({
      at: 1000 + k * ptime * (1 - (opts.drift ?? 0)) + (opts.delay?.(k) ?? 0),
      seq: ((opts.seq0 ?? 0) + k) & 0xffff,
      ts: ((opts.ts0 ?? 0) + k * n) >>> 0,
      payload: payloadAt(k * n, n),
    });
  }
  return out;
}

/** Index of the first sample with value 0 followed by 1, 2 … (the start of the sender's audio). */
function firstAudio(s: Int16Array): number {
  for (let i = 0; i + 2 < s.length; i++) {
    if (s[i] === 0 && s[i + 1] === 1 && s[i + 2] === 2) {
      return i;
    }
  }
  return -1;
}

/** The frame kinds of the frames that hold the sender's first `n` samples (from `start`). */
function kindsIn(kinds: FrameKind[], start: number, n: number): FrameKind[] {
  return kinds.slice(Math.floor(start / 160), Math.floor((start + n) / 160));
}

/** Number of places after `from` where the sample does not count up by one from the previous one. */
function breaks(s: Int16Array, from: number, to = s.length): number {
  let n = 0;
  for (let i = from + 1; i < to; i++) {
    if (s[i] !== (s[i - 1]! + 1) % 32768) {
      n++;
    }
  }
  return n;
}

describe('JitterBuffer', () => {
  it('plays a clean stream unchanged, continuous, with at most 40 ms delay', () => {
    const jb = new JitterBuffer({ minDelayMs: 20, maxDelayMs: 200 });
    const { samples, kinds } = simulate(jb, stream(200), 1000 + 200 * 20 + 100);
    const start = firstAudio(samples);
    expect(start).toBeGreaterThan(0);
    // Everything sent comes out, in order, without a single break, and nothing before is noise.
    expect(breaks(samples, start, start + 200 * 160)).toBe(0);
    expect(samples.subarray(0, start).every((v) => v === 0)).toBe(true);
    expect(kindsIn(kinds, start, 200 * 160).filter((k) => k === 'concealed')).toHaveLength(0);
    const st = jb.getStats();
    expect(st).toMatchObject({
      received: 200,
      lost: 0,
      late: 0,
      duplicated: 0,
      reordered: 0,
      adjustedFrames: 0,
    });
    expect(st.currentDelayMs).toBeLessThanOrEqual(40);
    expect(st.targetDelayMs).toBeLessThanOrEqual(40);
  });

  for (const ptime of [10, 30, 60]) {
    it(`plays ${ptime} ms packets unchanged into 20 ms frames`, () => {
      const jb = new JitterBuffer({ minDelayMs: 20, maxDelayMs: 200 });
      const count = Math.floor(4000 / ptime);
      const { samples, kinds } = simulate(jb, stream(count, { ptime }), 1000 + 4000 + 200);
      const start = firstAudio(samples);
      expect(breaks(samples, start, start + count * ptime * 8)).toBe(0);
      expect(kindsIn(kinds, start, count * ptime * 8).filter((k) => k === 'concealed')).toHaveLength(0);
      expect(jb.getStats()).toMatchObject({ received: count, lost: 0, late: 0 });
      expect(jb.getStats().targetDelayMs).toBeLessThanOrEqual(ptime + 25);
    });
  }

  it('re-anchors on a timestamp leap (a sender that re-based its clock) instead of stalling', () => {
    const pk = stream(100);
    // From packet 50 on, timestamps jump 10 minutes ahead; sequence numbers and timing continue.
    for (const p of pk.slice(50)) {
      p.ts = (p.ts + 600 * 8000) >>> 0;
    }
    const jb = new JitterBuffer();
    const { samples } = simulate(jb, pk, 3300);
    const start = firstAudio(samples);
    expect(breaks(samples, start, start + 50 * 160)).toBe(0);
    // Packet 50 is played within a target delay of where it belonged, not 10 minutes later.
    const at50 = samples.indexOf(50 * 160, start);
    expect(at50 - (start + 50 * 160)).toBeLessThanOrEqual(40 * 8);
    expect(at50 - (start + 50 * 160)).toBeGreaterThanOrEqual(0);
    expect(breaks(samples, at50, at50 + 50 * 160)).toBe(0);
    expect(jb.getStats()).toMatchObject({ resyncs: 1, late: 0 });
  });

  it('counts a straggler more than a second late as late, without re-anchoring the timeline', () => {
    const pk = stream(150);
    pk[20]!.at += 1500;
    const jb = new JitterBuffer();
    const { samples } = simulate(jb, pk, 4300);
    const start = firstAudio(samples);
    expect(breaks(samples, start + 21 * 160, start + 150 * 160)).toBe(0);
    expect(jb.getStats()).toMatchObject({ late: 1, resyncs: 0 });
  });

  it('wraps sequence numbers at 0xFFFF and timestamps at 0xFFFFFFFF without a break', () => {
    const jb = new JitterBuffer();
    const { samples } = simulate(jb, stream(100, { seq0: 0xffd0, ts0: 0xffffffff - 160 * 40 + 1 }), 3200);
    const start = firstAudio(samples);
    expect(breaks(samples, start, start + 100 * 160)).toBe(0);
    expect(jb.getStats()).toMatchObject({ received: 100, lost: 0, reordered: 0 });
  });

  it('reorders within the delay, drops duplicates, counts them', () => {
    const pk = stream(100);
    // Swap neighbours 10/11 and 50/51 (arrival), duplicate 20 and 70.
    [pk[10]!.at, pk[11]!.at] = [pk[11]!.at, pk[10]!.at + 0.5];
    [pk[50]!.at, pk[51]!.at] = [pk[51]!.at, pk[50]!.at + 0.5];
    pk.push({ ...pk[20]!, at: pk[20]!.at + 5 }, { ...pk[70]!, at: pk[70]!.at + 1 });
    const jb = new JitterBuffer({ minDelayMs: 40 });
    const { samples } = simulate(jb, pk, 3300);
    const start = firstAudio(samples);
    expect(breaks(samples, start, start + 100 * 160)).toBe(0);
    expect(jb.getStats()).toMatchObject({ received: 100, duplicated: 2, reordered: 2, lost: 0, late: 0 });
  });

  it('declares loss when the head ages out and conceals it, then resumes aligned', () => {
    const plc: Concealer = {
      addGood: (src, dst, at = 0, from = 0, n = src.length - from) => {
        dst.set(src.subarray(from, from + n), at);
        return n;
      },
      conceal: (dst, at = 0, n = dst.length - at) => {
        dst.fill(-7, at, at + n);
        return n;
      },
      reset: () => undefined,
    };
    const pk = stream(100).filter((p) => p.seq !== 30 && p.seq !== 31 && p.seq !== 60);
    const jb = new JitterBuffer({ concealer: plc });
    const { samples, kinds } = simulate(jb, pk, 3300);
    const start = firstAudio(samples);
    // Sample i of the sender is at start + i: the lost packets are concealed in place.
    for (const i of [0, 29 * 160, 32 * 160, 59 * 160 + 159, 61 * 160, 99 * 160 + 159]) {
      expect(samples[start + i]).toBe(i % 32768);
    }
    for (const i of [30 * 160, 31 * 160 + 159, 60 * 160]) {
      expect(samples[start + i]).toBe(-7);
    }
    // Three 20 ms packets concealed (each may span two output frames), before the stream ended.
    expect(kindsIn(kinds, start, 100 * 160).filter((k) => k === 'concealed').length).toBeLessThanOrEqual(5);
    expect(jb.getStats()).toMatchObject({ lost: 3, late: 0 });
  });

  it('drops a packet that arrives after its playout time as late', () => {
    const pk = stream(60);
    pk[30]!.at += 200;
    const jb = new JitterBuffer({ minDelayMs: 20, maxDelayMs: 60 });
    simulate(jb, pk, 2500);
    expect(jb.getStats()).toMatchObject({ late: 1, lost: 1 });
  });

  it('grows its delay under 50 ms jitter, then shrinks again on a clean network without breaks', () => {
    const r = rng(42);
    const jittery = stream(500, { delay: () => r() * 50 });
    const clean = stream(1000)
      .slice(500)
      .map((p) => ({ ...p, at: p.at + 0 }));
    const jb = new JitterBuffer({ minDelayMs: 20, maxDelayMs: 300 });
    const pk = [...jittery, ...clean];
    let maxTarget = 0;
    const frames = 1000;
    const samples = new Int16Array(frames * 160 + 160 * 60);
    const sorted = [...pk].sort((a, b) => a.at - b.at);
    let p = 0;
    for (let f = 0; f < frames + 50; f++) {
      const t = 7 + f * 20;
      while (p < sorted.length && sorted[p]!.at <= t) {
        const x = sorted[p++]!;
        jb.push(x.seq, x.ts, x.payload, x.at, l16);
      }
      jb.pull(t);
      samples.set(jb.frame, f * 160);
      maxTarget = Math.max(maxTarget, jb.getStats().targetDelayMs);
    }
    const st = jb.getStats();
    expect(maxTarget).toBeGreaterThanOrEqual(60);
    expect(maxTarget).toBeLessThanOrEqual(80);
    // Back on a clean network the delay returns to the clean figure.
    expect(st.targetDelayMs).toBeLessThanOrEqual(40);
    expect(st.currentDelayMs).toBeLessThanOrEqual(40);
    // At most a few packets lost to the first jitter before the delay adapted.
    expect(st.lost + st.late).toBeLessThanOrEqual(10);
  });

  for (const drift of [0.005, -0.005]) {
    it(`follows a sender clock ${drift > 0 ? 'fast' : 'slow'} by 0.5 % for an hour: neither grows nor starves`, () => {
      const jb = new JitterBuffer({ minDelayMs: 20, maxDelayMs: 200 });
      const packets = Math.floor(3600 * 50 * (1 + drift));
      let k = 0;
      let maxLen = 0;
      let maxDelay = 0;
      let minDelay = Infinity;
      const hour = 3600 * 1000;
      for (let f = 0; 7 + f * 20 < 1000 + hour; f++) {
        const t = 7 + f * 20;
        for (; k < packets; k++) {
          const at = 1000 + (k * 20) / (1 + drift);
          if (at > t) {
            break;
          }
          jb.push(k & 0xffff, (k * 160) >>> 0, payloadAt(k * 160), at, l16);
        }
        jb.pull(t);
        if (f > 100) {
          const st = jb.getStats();
          maxDelay = Math.max(maxDelay, st.currentDelayMs);
          minDelay = Math.min(minDelay, st.currentDelayMs);
          maxLen = Math.max(maxLen, jb.length);
        }
      }
      const st = jb.getStats();
      console.log(
        `drift ${drift * 100} %: delay ${minDelay.toFixed(1)}–${maxDelay.toFixed(1)} ms, ≤ ${maxLen} packets buffered, ` +
          `${st.adjustedFrames} adjusted frames of ${3600 * 50}`,
      );
      expect(st).toMatchObject({ lost: 0, late: 0, overflow: 0, concealedFrames: 0 });
      expect(maxDelay).toBeLessThanOrEqual(50);
      expect(minDelay).toBeGreaterThanOrEqual(10);
      expect(maxLen).toBeLessThanOrEqual(4);
      // 0.5 % of an hour is 18 s = 144000 samples, moved one pitch period (20–120 samples; on this
      // ramp the credit's first 20) per adjusted frame.
      expect(st.adjustedFrames).toBeGreaterThanOrEqual(144000 / 120);
      expect(st.adjustedFrames).toBeLessThanOrEqual(144000 / 20 + 10);
    });
  }

  it('plays silence (not concealment) after a comfort-noise packet and stays aligned across the gap', () => {
    const pk = stream(100);
    // Talk spurt 0..39, CN at 40, silence (no packets) until 70, then audio resumes at the right time.
    const gap = pk.filter((p) => p.seq < 40 || p.seq >= 70);
    gap.push({ at: pk[40]!.at, seq: 40, ts: pk[40]!.ts, payload: new Uint8Array([40]), cn: true });
    for (const p of gap) {
      if (p.seq >= 70) {
        p.seq -= 29; // senders do not advance the sequence number over a silence
      }
    }
    const jb = new JitterBuffer();
    const { samples, kinds } = simulate(jb, gap, 3300);
    const start = firstAudio(samples);
    expect(kindsIn(kinds, start, 100 * 160).filter((k) => k === 'concealed')).toHaveLength(0);
    expect(samples[start + 39 * 160 + 159]).toBe(39 * 160 + 159);
    expect(samples.subarray(start + 40 * 160, start + 70 * 160).every((v) => v === 0)).toBe(true);
    expect(samples[start + 70 * 160]).toBe((70 * 160) % 32768);
    expect(jb.getStats()).toMatchObject({ lost: 0, late: 0 });
  });

  it('silence suppression without CN: conceals up to 60 ms, then silence, then resumes aligned', () => {
    const pk = stream(100).filter((p) => p.seq < 40 || p.seq >= 70);
    for (const p of pk) {
      if (p.seq >= 70) {
        p.seq -= 30;
      }
    }
    const jb = new JitterBuffer({ maxConcealMs: 60 });
    const { samples, kinds } = simulate(jb, pk, 3300);
    const start = firstAudio(samples);
    expect(kindsIn(kinds, start, 100 * 160).filter((k) => k === 'concealed').length).toBeLessThanOrEqual(4);
    expect(samples[start + 70 * 160]).toBe((70 * 160) % 32768);
    expect(breaks(samples, start + 70 * 160, start + 100 * 160)).toBe(0);
  });

  it('splices a new SSRC with unrelated audio without a click (5 ms de-click ramp)', () => {
    const level = (v: number): Uint8Array => {
      const p = new Uint8Array(320);
      for (let i = 0; i < 160; i++) {
        p[2 * i] = (v >> 8) & 0xff;
        p[2 * i + 1] = v & 0xff;
      }
      return p;
    };
    const a = stream(30).map((p) => ({ ...p, payload: level(12000) }));
    const b = stream(60, { seq0: 500, ts0: 99999 })
      .slice(30)
      .map((p) => ({ ...p, payload: level(-12000) }));
    b[0]!.newSource = true;
    const jb = new JitterBuffer();
    const { samples } = simulate(jb, [...a, ...b], 2000);
    let maxStep = 0;
    let switchAt = -1;
    for (let i = 1; i < samples.length; i++) {
      const step = Math.abs(samples[i]! - samples[i - 1]!);
      if (samples[i - 1] === 12000 && samples[i]! < 12000 && switchAt < 0) {
        switchAt = i;
      }
      if (samples[i - 1] !== 0 && samples[i] !== 0) {
        maxStep = Math.max(maxStep, step);
      }
    }
    expect(switchAt).toBeGreaterThan(0);
    // 24000 spread over 40 samples: 600 per sample instead of one step of 24000.
    expect(maxStep).toBeLessThanOrEqual(600);
    expect(samples[switchAt + 40]).toBe(-12000);
    expect(jb.getStats()).toMatchObject({ declicks: 1, lost: 0 });
  });

  it('continues a new SSRC right after the old one, without a gap', () => {
    const a = stream(50);
    // The new source starts with unrelated seq/ts and continues the audio (sample 50 × 160 …).
    const b = stream(100, { seq0: 9000, ts0: 0x7ffff000 }).slice(50);
    b[0]!.newSource = true;
    const jb = new JitterBuffer();
    const { samples, kinds } = simulate(jb, [...a, ...b], 3300);
    const start = firstAudio(samples);
    expect(breaks(samples, start, start + 100 * 160)).toBe(0);
    expect(kindsIn(kinds, start, 100 * 160).filter((k) => k === 'concealed')).toHaveLength(0);
    expect(jb.getStats()).toMatchObject({ resyncs: 1, lost: 0, late: 0 });
  });
});
