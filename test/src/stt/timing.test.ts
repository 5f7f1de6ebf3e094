import { describe, expect, it } from 'vitest';
import { decodeUlaw, Upsampler8to24 } from '../../../rtp/index.js';
import {
  ReplayBuffer,
  callMsToFrame,
  isReplayDuplicate,
  planReplay,
  replayStartFrame,
  serverToCallMs,
} from '../../../src/stt/timing.js';

describe('server time → call time', () => {
  it('adds the connection’s first frame and the stream’s offset from the answer', () => {
    // First connection, opened at the answer: start_time 1.04 s is 1040 ms into the call.
    expect(serverToCallMs(0, 0, 1.04)).toBe(1040);
    // Stream opened 250 ms after the answer.
    expect(serverToCallMs(250, 0, 1.04)).toBe(1290);
    // After a failover whose replay started at call frame 100 (8 s): 0.32 s on the new stream = 8.32 s.
    expect(serverToCallMs(0, 100, 0.32)).toBe(8320);
    expect(callMsToFrame(0, 8320)).toBe(104);
    expect(callMsToFrame(250, 1290)).toBe(13);
  });
});

describe('failover replay window', () => {
  it('starts no later than the last delivered word, at least minFrames before the drop', () => {
    expect(
      replayStartFrame({
        dropFrame: 200,
        lastWordFrame: 190,
        oldestFrame: 75,
        minFrames: 38,
        maxFrames: 125,
      }),
    ).toBe(162);
    expect(
      replayStartFrame({
        dropFrame: 200,
        lastWordFrame: 120,
        oldestFrame: 75,
        minFrames: 38,
        maxFrames: 125,
      }),
    ).toBe(120);
    // Bounded by the buffer and by maxFrames.
    expect(
      replayStartFrame({ dropFrame: 200, lastWordFrame: 10, oldestFrame: 75, minFrames: 38, maxFrames: 125 }),
    ).toBe(75);
    expect(
      replayStartFrame({ dropFrame: 200, lastWordFrame: 10, oldestFrame: 0, minFrames: 38, maxFrames: 100 }),
    ).toBe(100);
    // No word yet: from the beginning, if held.
    expect(
      replayStartFrame({ dropFrame: 20, lastWordFrame: null, oldestFrame: 0, minFrames: 38, maxFrames: 125 }),
    ).toBe(0);
  });

  it('drops replayed words at or just after the last delivered one, keeps later and post-drop ones', () => {
    expect(isReplayDuplicate(1000, 3000, 1000, 160)).toBe(true);
    expect(isReplayDuplicate(1160, 3000, 1000, 160)).toBe(true);
    expect(isReplayDuplicate(800, 3000, 1000, 160)).toBe(true);
    expect(isReplayDuplicate(1240, 3000, 1000, 160)).toBe(false);
    expect(isReplayDuplicate(3000, 3000, 5000, 160)).toBe(false);
    expect(isReplayDuplicate(100, 3000, null, 160)).toBe(false);
  });

  it('keeps the last frames in order', () => {
    const rb = new ReplayBuffer(3);
    // k/1024 is a whole number of 16-bit steps (k · 32): kept exactly.
    const f = (v: number): Float32Array => Float32Array.of(v / 1024);
    for (let i = 0; i < 5; i++) {
      rb.push(f(i));
    }
    expect(rb.nextFrame).toBe(5);
    expect(rb.oldestFrame).toBe(2);
    expect(rb.since(0).map((x) => (x[0] ?? 0) * 1024)).toEqual([2, 3, 4]);
    expect(rb.since(3).map((x) => (x[0] ?? 0) * 1024)).toEqual([3, 4]);
  });

  it('holds 16-bit samples: values computed by hand, 3840 B per 1920-sample frame', () => {
    const rb = new ReplayBuffer(2);
    const frame = Float32Array.of(0, 0.5, -0.5, 1, -1, 1.5, -2, 1 / 32768, 0.3, -0.3, 0.00001);
    rb.push(frame);
    frame.fill(0.75); // the caller may reuse its frame: the buffer kept its own copy
    // ×32768 rounded, clamped to [-32768, 32767]: 0.3 → 9830.4 → 9830; 0.00001 → 0.33 → 0.
    const expected = [0, 16384, -16384, 32767, -32768, 32767, -32768, 1, 9830, -9830, 0].map(
      (v) => v / 32768,
    );
    expect(Array.from(rb.since(0)[0]!)).toEqual(expected.map((v) => Math.fround(v)));
    const big = new ReplayBuffer(125);
    for (let i = 0; i < 200; i++) {
      big.push(new Float32Array(1920));
    }
    // 10 s of frames: 125 × 3840 B = 480 000 B (float32 frames held: 960 000 B).
    expect(big.bytes).toBe(480_000);
  });

  /** 8 kHz samples → the 24 kHz frames an RTP session hands the stream (1920 samples each). */
  function upsampledFrames(x: Int16Array): Float32Array[] {
    const up = new Upsampler8to24();
    const frames: Float32Array[] = [];
    for (let at = 0; at + 640 <= x.length; at += 640) {
      const f = new Float32Array(1920);
      up.process(x.subarray(at, at + 640), f);
      frames.push(f);
    }
    return frames;
  }

  it('narrowband: keeps 640 μ-law bytes per frame and replays PCMU audio as it was, at the same call time', () => {
    // Eight frames of random μ-law codes (segments 0–6: at most 15 996, so the upsampler's
    // overshoot stays inside full scale), decoded as an RTP session does.
    let seed = 7;
    const codes = Uint8Array.from({ length: 8 * 640 }, () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return ~((seed & 0x8f) | (((seed >> 8) % 7) << 4)) & 0xff;
    });
    const x = new Int16Array(codes.length);
    decodeUlaw(codes, x);
    const frames = upsampledFrames(x);
    const rb = new ReplayBuffer(125, 'narrowband');
    for (const f of frames) {
      rb.push(f);
    }
    // The whole call, one stream of samples: value for value, except the last 66 samples (the
    // upsampler's delay: they wait for 8 kHz samples of the next frame), kept as 16-bit.
    const original = Float32Array.from(frames.flatMap((f) => Array.from(f)));
    const replay = Float32Array.from(rb.since(0).flatMap((f) => Array.from(f)));
    const end = original.length - 66;
    expect(replay.length).toBe(original.length);
    expect(Array.from(replay.subarray(0, end))).toEqual(Array.from(original.subarray(0, end)));
    for (let i = end; i < original.length; i++) {
      expect(Math.abs(replay[i]! - original[i]!)).toBeLessThanOrEqual(0.5 / 32768);
    }
    // From frame 5 on (the frame before primes the filter): the same samples.
    const from5 = Float32Array.from(rb.since(5).flatMap((f) => Array.from(f)));
    expect(Array.from(from5)).toEqual(Array.from(replay.subarray(5 * 1920)));
    // 10 s = 125 frames × 640 B + the 132 B tail = 80 132 B (16-bit 24 kHz: 480 000 B).
    const big = new ReplayBuffer(125, 'narrowband');
    for (let i = 0; i < 200; i++) {
      big.push(new Float32Array(1920));
    }
    expect(big.bytes).toBe(80_132);
    expect(() => big.push(new Float32Array(480))).toThrow(RangeError);
  });

  it('narrowband: a sample between μ-law levels comes back on the nearest level (1000 → 988)', () => {
    // μ-law of 1000 by hand: 1000 + 132 = 1132, segment 3, mantissa (1132 >> 6) & 15 = 1;
    // decoded ((1 << 3) + 132) << 3 − 132 = 988 (that code spans 972…1003).
    const x = new Int16Array(4 * 640).fill(1000);
    const rb = new ReplayBuffer(10, 'narrowband');
    for (const f of upsampledFrames(x)) {
      rb.push(f);
    }
    const replay = rb.since(0);
    // Well inside the constant stretch, every third sample (the phase that passes the 8 kHz
    // samples unchanged) is the level itself.
    const phase0 = Array.from(replay[2]!).filter((_, i) => i % 3 === 0);
    expect(phase0).toEqual(new Array(640).fill(Math.fround(988 / 32768)));
  });

  it('plans a replay: window, silence prefix and the new connection’s base frame', () => {
    // 10 s buffer = 125 frames of 80 ms; drop at frame 200 (16 s), last word at frame 180 (14.4 s).
    const rb = new ReplayBuffer(125);
    for (let i = 0; i < 200; i++) {
      rb.push(Float32Array.of(i / 1024));
    }
    const o = { dropFrame: 200, lastWordFrame: 180, minReplayMs: 3000, replayBufferMs: 10_000 };
    // At least 3 s before the drop: ceil(3000 / 80) = 38 frames, 162…199; no prefix for the 1B model.
    const p1 = planReplay(rb, { ...o, replayPrefixMs: 0 });
    expect([p1.frames.length, (p1.frames[0]?.[0] ?? 0) * 1024, p1.prefixFrames, p1.baseFrame]).toEqual([
      38, 162, 0, 162,
    ]);
    // 2.6B: 1 s of silence first, ceil(1000 / 80) = 13 frames, so time 0 is 13 frames before 162.
    const p2 = planReplay(rb, { ...o, replayPrefixMs: 1000 });
    expect([p2.frames.length, p2.prefixFrames, p2.baseFrame]).toEqual([38, 13, 149]);
    // A last word 12 s back is older than the buffer: the replay starts at its oldest frame (75).
    const p3 = planReplay(rb, { ...o, lastWordFrame: 50, replayPrefixMs: 0 });
    expect([p3.frames.length, (p3.frames[0]?.[0] ?? 0) * 1024, p3.baseFrame]).toEqual([125, 75, 75]);
  });
});
