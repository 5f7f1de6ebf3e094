/**
 * A call's transcript as text: plain text, SubRip (SRT) and WebVTT. One line or cue per utterance,
 * times relative to the answer of the call.
 *
 * @see https://www.w3.org/TR/webvtt1/ (WebVTT: `WEBVTT` header, `hh:mm:ss.ttt --> hh:mm:ss.ttt` cues)
 * SRT has no formal specification; the de facto form is a counter, `hh:mm:ss,ttt --> hh:mm:ss,ttt`,
 * the text, and a blank line.
 *
 * A transcript of both sides of a call (`caller` and `callee`) is interleaved by start time and each
 * line or cue is labelled with its side (`caller: …`; WebVTT's voice span `<v caller>…`); a
 * transcript of one side (a SIP call) carries no labels.
 */
import type { TranscriptUtterance } from '../events.js';

export const TRANSCRIPT_FORMATS = ['json', 'txt', 'srt', 'vtt'] as const;
export type TranscriptFormat = (typeof TRANSCRIPT_FORMATS)[number];

/** `hh:mm:ss` + `sep` + milliseconds (`,` for SRT, `.` for WebVTT); negative times clamp to 0. */
function timestamp(ms: number, sep: ',' | '.'): string {
  const t = Math.max(0, Math.round(ms));
  const h = Math.floor(t / 3_600_000);
  const m = Math.floor((t % 3_600_000) / 60_000);
  const s = Math.floor((t % 60_000) / 1000);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${sep}${pad(t % 1000, 3)}`;
}

/**
 * The utterances in call-time order (by start, stable: equal starts keep their order), so both
 * sides of a call read as a conversation.
 */
export function interleave<U extends TranscriptUtterance>(utterances: readonly U[]): U[] {
  return [...utterances].sort((a, b) => a.startMs - b.startMs);
}

/** Whether the utterances come from more than one channel (then every line is labelled). */
function labelled(utterances: readonly TranscriptUtterance[]): boolean {
  return utterances.some((u) => u.channel !== utterances[0]?.channel);
}

/** One text per cue: line breaks inside an utterance would end a cue early, so they become spaces. */
function cueText(u: TranscriptUtterance): string {
  return u.text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** `[hh:mm:ss] text`, one utterance per line. */
export function toTxt(all: readonly TranscriptUtterance[]): string {
  const utterances = interleave(all);
  const label = labelled(utterances);
  return utterances
    .map((u) => `[${timestamp(u.startMs, '.').slice(0, 8)}] ${label ? `${u.channel}: ` : ''}${cueText(u)}\n`)
    .join('');
}

/** SubRip: numbered cues from 1. */
export function toSrt(all: readonly TranscriptUtterance[]): string {
  const utterances = interleave(all);
  const label = labelled(utterances);
  return utterances
    .map(
      (u, i) =>
        `${i + 1}\n${timestamp(u.startMs, ',')} --> ${timestamp(Math.max(u.endMs, u.startMs), ',')}\n${label ? `${u.channel}: ` : ''}${cueText(u)}\n\n`,
    )
    .join('');
}

/** WebVTT; `-->` cannot appear in cue text, so it is escaped. */
export function toVtt(all: readonly TranscriptUtterance[]): string {
  const utterances = interleave(all);
  const label = labelled(utterances);
  const cues = utterances.map(
    (u) =>
      `${timestamp(u.startMs, '.')} --> ${timestamp(Math.max(u.endMs, u.startMs), '.')}\n${label ? `<v ${u.channel}>` : ''}${cueText(
        u,
      )
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')}\n\n`,
  );
  return `WEBVTT\n\n${cues.join('')}`;
}
