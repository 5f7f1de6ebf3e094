/**
 * Event bodies for what the caller said (the one inbound channel transcribed today), from the STT
 * client's words and utterances or from stored ones: the one place their shape is written.
 */
import type { EventBody, TranscriptWord } from '../events.js';

/** The channel of the caller's speech. */
const CALLER = 'caller';

interface WordLike {
  readonly text: string;
  readonly startMs: number;
  readonly endMs?: number | undefined;
}

/** A `transcript.word` of the caller (the end is left out: it arrives later, with `EndWord`). */
export function callerWord(w: WordLike): EventBody {
  return { type: 'transcript.word', text: w.text, startMs: w.startMs, channel: CALLER };
}

/** Only the fields a stored word keeps (an absent end stays absent). */
function toTranscriptWord(w: WordLike): TranscriptWord {
  return { text: w.text, startMs: w.startMs, ...(w.endMs !== undefined ? { endMs: w.endMs } : {}) };
}

/** A final `transcript.utterance` of the caller. */
export function callerUtterance(u: {
  readonly text: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly words: readonly WordLike[];
}): EventBody {
  return {
    type: 'transcript.utterance',
    text: u.text,
    startMs: u.startMs,
    endMs: u.endMs,
    words: u.words.map(toTranscriptWord),
    channel: CALLER,
    final: true,
  };
}
