/**
 * Event bodies for what one side of a call said (`caller`, or `callee` for sources that carry both
 * directions), from the STT client's words and utterances or from stored ones: the one place their
 * shape is written.
 */
import type { EventBody, TranscriptWord } from '../events.js';

/** The sides of a call that can be transcribed; a SIP call has only the caller's. */
export const CHANNELS = ['caller', 'callee'] as const;
export type Channel = (typeof CHANNELS)[number];

interface WordLike {
  readonly text: string;
  readonly startMs: number;
  readonly endMs?: number | undefined;
}

/** A `transcript.word` of `channel` (the end is left out: it arrives later, with `EndWord`). */
export function channelWord(channel: string, w: WordLike): EventBody {
  return { type: 'transcript.word', text: w.text, startMs: w.startMs, channel };
}

/** Only the fields a stored word keeps (an absent end stays absent). */
function toTranscriptWord(w: WordLike): TranscriptWord {
  return { text: w.text, startMs: w.startMs, ...(w.endMs !== undefined ? { endMs: w.endMs } : {}) };
}

/** A final `transcript.utterance` of `channel`. */
export function channelUtterance(
  channel: string,
  u: {
    readonly text: string;
    readonly startMs: number;
    readonly endMs: number;
    readonly words: readonly WordLike[];
  },
): EventBody {
  return {
    type: 'transcript.utterance',
    text: u.text,
    startMs: u.startMs,
    endMs: u.endMs,
    words: u.words.map(toTranscriptWord),
    channel,
    final: true,
  };
}
