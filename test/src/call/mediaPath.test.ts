// Differential check of the live media path (datagram → RtpSession → ChannelTranscriber →
// SttStream → Audio message bytes) against what it produced before it was rewritten (#12 item 2):
// `test/fixtures/media-path/before.json` was recorded by running `mediaPathTrace.ts` on the code
// as it was (commit `recordedAt`), and is never regenerated from the code under test.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../../helpers/paths.js';
import { audioHash, runMediaTrace, type TraceFrame, type TraceMessage } from './mediaPathTrace.js';

const before = JSON.parse(readFileSync(join(FIXTURES, 'media-path/before.json'), 'utf8')) as {
  frames: TraceFrame[];
  messages: TraceMessage[];
};

describe('media path: a fixed packet trace against the path before its rewrite', () => {
  it('gives the call the same frames, byte for byte, at the same times', async () => {
    const { frames } = await runMediaTrace();
    expect(frames).toEqual(before.frames);
  });

  // The STT side changed on purpose: the RTP session paces its frames (one per 80 ms of call time,
  // silence included), and the stream used to pace them a second time. After each stall the
  // session's catch-up (several frames at once) looked to the stream's pacer like a source more
  // than 240 ms behind, so it inserted zero frames up to the present before them: the audio that
  // followed sat later on the STT's timeline than in the call, and came more than 5 frames ahead of
  // the pacer's schedule, so it was held back and sent late. Now each frame goes out as the session
  // hands it over, and the messages are what the frames are, at the times they were produced.
  it('sends each frame of the session as it comes, the kept ones at the opening, nothing inserted; then the flush', async () => {
    const { frames, messages } = await runMediaTrace();
    const zero = audioHash(new Float32Array(1920));
    const opened = 10_430; // the admission, 430 ms after the answer at 10 000
    // The frames kept before the stream opened: the five produced by then (offsets 0…320), sent at
    // the opening as before (kept as 16-bit samples: the bytes recorded before, not the frames').
    const kept = frames.filter(([at]) => at < opened);
    expect(kept.map(([, offsetMs]) => offsetMs)).toEqual([0, 80, 160, 240, 320]);
    expect(before.messages.slice(0, 5).every(([at]) => at === opened)).toBe(true);
    const expected: TraceMessage[] = [
      ...before.messages.slice(0, kept.length),
      ...frames.slice(kept.length).map(([at, , hash]): TraceMessage => [at, hash]),
    ];
    const flushAt = messages.findIndex(([, what]) => what.startsWith('marker'));
    expect(messages.slice(0, flushAt)).toEqual(expected);
    // The flush (SttStream, unchanged): Marker, ceil(480 / 80) + 2 = 8 zero frames at once, then one
    // per 80 ms until the Marker comes back (150 ms) and through the 240 ms of grace after it.
    const t = messages[flushAt]![0];
    expect(messages.slice(flushAt)).toEqual([
      [t, 'marker 1'],
      ...Array.from({ length: 8 }, (): TraceMessage => [t, zero]),
      ...[80, 160, 240, 320].map((d): TraceMessage => [t + d, zero]),
    ]);
    // Against the messages recorded before: the same frames in the same order once the zero frames
    // the stream's pacer inserted are taken out; none was inserted before the first stall.
    const old = before.messages.slice(
      0,
      before.messages.findIndex(([, what]) => what.startsWith('marker')),
    );
    let j = 0;
    const inserted: number[] = [];
    for (const [at, hash] of old) {
      if (j < expected.length && hash === expected[j]![1]) {
        j++;
      } else {
        expect(hash).toBe(zero);
        inserted.push(at);
      }
    }
    expect(j).toBe(expected.length);
    expect(inserted).toEqual([...Array<number>(4).fill(12_300), ...Array<number>(11).fill(18_200)]);
  });
});
