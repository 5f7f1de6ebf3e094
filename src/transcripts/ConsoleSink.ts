/**
 * The console sink. On a terminal it prints readable live lines (time, caller, offset, words);
 * otherwise (a service, a container) it writes structured JSON log records through the logger.
 *
 * Terminal lines (times are UTC from the event's `at`):
 * ```
 * 09:00:02 ☎ Alice <sip:alice@example.com> → sip:1001@192.0.2.10 (udp, PCMU)  call 3f2a…
 * 09:00:05   Alice +00:03  the quick brown fox
 * 09:01:04 ☎ Alice hung up: bye-remote after 01:02
 * ```
 * Words arrive before their utterance: they are held per call and replaced by the utterance line;
 * if no utterance comes within 16 words, they are printed as a line of their own (marked `…`).
 */
import type { CallEvent, CallMeta, RecordingParty } from '../events.js';
import type { Logger } from '../logger.js';
import { CHANNELS } from './channelEvents.js';
import type { TranscriptSink } from './TranscriptBus.js';

export interface ConsoleSinkOptions {
  /** Where terminal lines go (default process.stdout). */
  out?: { write(s: string): unknown; isTTY?: boolean };
  /** Used when `out` is not a terminal. */
  logger: Logger;
  /** Force a mode (default: `out.isTTY`). */
  tty?: boolean;
  /** ANSI colours on the terminal (default true). */
  color?: boolean;
  /**
   * Transcript text (words, utterances) in the output (`log.transcripts`). Default: on a terminal
   * only; a log file or journal is reached by neither deletion nor retention, so a service logs
   * utterances with their times and word count but without their text.
   */
  transcripts?: boolean;
}

const WORDS_PER_LINE = 16;

/** The caller's short name: the display name, else the user part of the URI. */
export function callerName(meta: Pick<CallMeta, 'from'>): string {
  const display = /^\s*"([^"]*)"/.exec(meta.from)?.[1] ?? /^\s*([^<"]+?)\s*</.exec(meta.from)?.[1];
  if (display) {
    return display;
  }
  return /sips?:([^@;>]+)@/.exec(meta.from)?.[1] ?? meta.from;
}

/** `mm:ss`, or `h:mm:ss` from one hour. */
function clockTime(ms: number): string {
  const t = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = t % 60;
  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

export class ConsoleSink implements TranscriptSink {
  readonly name = 'console';
  readonly #out: { write(s: string): unknown };
  readonly #logger: Logger;
  readonly #tty: boolean;
  readonly #color: boolean;
  readonly #transcripts: boolean;
  readonly #pending = new Map<string, { startMs: number; words: string[] }>();

  constructor(opts: ConsoleSinkOptions) {
    const out = opts.out ?? process.stdout;
    this.#out = out;
    this.#logger = opts.logger;
    this.#tty = opts.tty ?? out.isTTY === true;
    this.#color = opts.color ?? true;
    this.#transcripts = opts.transcripts ?? this.#tty;
  }

  handle(event: CallEvent): void {
    if (!this.#transcripts && (event.type === 'transcript.word' || event.type === 'transcript.utterance')) {
      if (!this.#tty) {
        this.#logWithoutText(event);
      }
    } else if (this.#tty) {
      this.#line(event);
    } else {
      this.#log(event);
    }
  }

  #logWithoutText(e: CallEvent & { type: 'transcript.word' | 'transcript.utterance' }): void {
    const base = {
      callId: e.callId,
      seq: e.seq,
      event: e.type,
      offsetMs: e.offsetMs,
      startMs: e.startMs,
      channel: e.channel,
    };
    if (e.type === 'transcript.word') {
      this.#logger.debug(base, 'word');
    } else {
      this.#logger.info({ ...base, endMs: e.endMs, words: e.words.length }, 'utterance');
    }
  }

  #log(e: CallEvent): void {
    const base = { callId: e.callId, seq: e.seq, event: e.type, offsetMs: e.offsetMs };
    switch (e.type) {
      case 'call.started':
        this.#logger.info({ ...base, call: e.call }, 'call started');
        break;
      case 'transcript.word':
        this.#logger.debug({ ...base, text: e.text, startMs: e.startMs, channel: e.channel }, 'word');
        break;
      case 'transcript.utterance':
        this.#logger.info(
          { ...base, text: e.text, startMs: e.startMs, endMs: e.endMs, channel: e.channel },
          'utterance',
        );
        break;
      case 'dtmf':
        this.#logger.info({ ...base, digit: e.digit, durationMs: e.durationMs }, 'dtmf');
        break;
      case 'recording.updated':
        this.#logger.info(
          { ...base, joined: e.joined, left: e.left, paused: e.paused, resumed: e.resumed },
          'recording updated',
        );
        break;
      case 'call.ended':
        this.#logger.info(
          { ...base, reason: e.reason, durationMs: e.durationMs, utterances: e.transcript.length },
          'call ended',
        );
        break;
    }
  }

  #line(e: CallEvent): void {
    const time = this.#dim(e.at.slice(11, 19));
    const caller = this.#bold(callerName(e.call));
    // The other side of a call that carries both (ingress sources) is named by its channel.
    const who = 'channel' in e && e.channel !== 'caller' ? this.#bold(e.channel) : caller;
    const key = 'channel' in e ? `${e.callId}/${e.channel}` : e.callId;
    switch (e.type) {
      case 'call.started': {
        const { from, to, transport, codec } = e.call;
        this.#write(
          `${time} ☎ ${from} → ${to} (${transport}${codec ? `, ${codec}` : ''})  ${this.#dim(`call ${e.callId}`)}`,
        );
        break;
      }
      case 'transcript.word': {
        const p = this.#pending.get(key) ?? { startMs: e.startMs, words: [] };
        p.words.push(e.text);
        this.#pending.set(key, p);
        if (p.words.length >= WORDS_PER_LINE) {
          this.#pending.delete(key);
          this.#write(`${time}   ${who} +${clockTime(p.startMs)}  ${p.words.join(' ')} …`);
        }
        break;
      }
      case 'transcript.utterance':
        this.#pending.delete(key);
        this.#write(`${time}   ${who} +${clockTime(e.startMs)}  ${e.text}`);
        break;
      case 'dtmf':
        this.#write(`${time}   ${who} pressed ${e.digit}`);
        break;
      case 'recording.updated': {
        const party = (p: RecordingParty): string => p.name ?? p.aor ?? '?';
        const what = [
          ...e.joined.map((p) => `${party(p)} joined`),
          ...e.left.map((p) => `${party(p)} left`),
          ...e.paused.map((c) => `${c} paused`),
          ...e.resumed.map((c) => `${c} resumed`),
        ];
        this.#write(
          `${time} ● recording: ${what.join(', ') || 'metadata updated'}  ${this.#dim(`call ${e.callId}`)}`,
        );
        break;
      }
      case 'call.ended': {
        for (const channel of CHANNELS) {
          const p = this.#pending.get(`${e.callId}/${channel}`);
          if (p) {
            this.#pending.delete(`${e.callId}/${channel}`);
            const side = channel === 'caller' ? caller : this.#bold(channel);
            this.#write(`${time}   ${side} +${clockTime(p.startMs)}  ${p.words.join(' ')}`);
          }
        }
        this.#write(`${time} ☎ ${who} call ended: ${e.reason} after ${clockTime(e.durationMs)}`);
        break;
      }
    }
  }

  #write(line: string): void {
    this.#out.write(`${line}\n`);
  }

  #dim(s: string): string {
    return this.#color ? `\u001b[2m${s}\u001b[22m` : s;
  }

  #bold(s: string): string {
    return this.#color ? `\u001b[1m${s}\u001b[22m` : s;
  }
}
