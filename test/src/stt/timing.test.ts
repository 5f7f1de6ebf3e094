import { describe, expect, it } from 'vitest';
import {
  ReplayBuffer,
  callMsToFrame,
  isReplayDuplicate,
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
    const f = (v: number): Float32Array => Float32Array.of(v);
    for (let i = 0; i < 5; i++) {
      rb.push(f(i));
    }
    expect(rb.nextFrame).toBe(5);
    expect(rb.oldestFrame).toBe(2);
    expect(rb.since(0).map((x) => x[0])).toEqual([2, 3, 4]);
    expect(rb.since(3).map((x) => x[0])).toEqual([3, 4]);
  });
});
