/** Transcript events of one call, as the STT client hands them to src/ (times in ms since answer). */

/** One recognised word. */
export interface SttWord {
  /** 1, 2, 3… within the call (duplicates from a failover replay are dropped, never numbered). */
  readonly seq: number;
  readonly text: string;
  /** Start, ms since the call was answered (80 ms resolution, already corrected for model delay). */
  readonly startMs: number;
  /** End, when the server sent `EndWord` (optional: it may never come for the last word). */
  endMs?: number;
  /** Wall clock of the word's start (epoch ms) = answer wall clock + startMs. */
  readonly wallMs: number;
}

/** The end of a turn: the words spoken since the previous one. Always final. */
export interface SttUtterance {
  /** 1, 2, 3… within the call. */
  readonly seq: number;
  readonly text: string;
  readonly startMs: number;
  /** Last word's end (its `EndWord`), else its start when the server never sent one. */
  readonly endMs: number;
  readonly words: readonly SttWord[];
  readonly final: true;
  /** What ended the turn: the semantic VAD, the word-gap fallback, the end of the stream, or the length cap. */
  readonly reason: 'vad' | 'gap' | 'flush' | 'limit';
}

/** What `SttStream.flush()` resolves with. */
export interface FinalTranscript {
  readonly utterances: readonly SttUtterance[];
  readonly words: readonly SttWord[];
  /** All utterances' text joined with spaces. */
  readonly text: string;
  /** True when the flush Marker came back, i.e. every word spoken before the hangup is in. */
  readonly complete: boolean;
  /** Audio streamed, ms (caller audio plus the silence the stream inserted). */
  readonly audioMs: number;
  /** Failovers the stream went through. */
  readonly reconnects: number;
}
