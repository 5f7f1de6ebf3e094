// Differential check of the live media path (datagram → RtpSession → ChannelTranscriber →
// SttStream → Audio message bytes) against what it produced before it was rewritten (#12 item 2):
// `test/fixtures/media-path/before.json` was recorded by running `mediaPathTrace.ts` on the code
// as it was (commit `recordedAt`), and is never regenerated from the code under test.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../../helpers/paths.js';
import { runMediaTrace, type TraceFrame, type TraceMessage } from './mediaPathTrace.js';

const before = JSON.parse(readFileSync(join(FIXTURES, 'media-path/before.json'), 'utf8')) as {
  frames: TraceFrame[];
  messages: TraceMessage[];
};

describe('media path: a fixed packet trace against the path before its rewrite', () => {
  it('gives the call the same frames, byte for byte, at the same times', async () => {
    const { frames } = await runMediaTrace();
    expect(frames).toEqual(before.frames);
  });

  it('sends the STT the same messages', async () => {
    const { messages } = await runMediaTrace();
    expect(messages).toEqual(before.messages);
  });
});
