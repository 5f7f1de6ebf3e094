import type { Clock } from './clock.js';

/**
 * The minimal logger rtp/, sip/ and src/ accept (pino's `(obj, msg)` signature fits it
 * structurally). Nothing is logged per packet above `debug`.
 */
export interface Logger {
  trace?(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that discards everything. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** A line's fields, or a function that builds them only when the line is written (per-packet callers). */
type LogDetails = object | (() => object);

interface Repeats {
  since: number;
  /** Occurrences counted but not logged since the last line. */
  repeated: number;
  level: LogLevel;
  details: LogDetails;
  msg: string;
}

/** Most kinds tracked at once; the oldest is forgotten (its count logged) beyond that. */
const MAX_KINDS = 256;

const fields = (d: LogDetails): object => (typeof d === 'function' ? (d as () => object)() : d);

/**
 * Logs a repeated event once per window with a count instead of once per occurrence, because bad
 * input arrives per message or per packet and a flood of it must not become a flood of log lines
 * (log volume is attack surface). The first occurrence of a kind is logged as it comes; later ones
 * within `windowMs` are only counted; the first one after the window is logged with `repeated`
 * (how many were not logged since the last line), and `flush()` logs the counts still pending.
 * Kinds are fixed strings (a code, a problem), never per peer, so that their number stays small.
 */
export class RepeatedLog {
  readonly #logger: Logger;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #windowMs: number;
  readonly #kinds = new Map<string, Repeats>();

  constructor(logger: Logger, clock: Pick<Clock, 'now'>, windowMs = 60_000) {
    this.#logger = logger;
    this.#clock = clock;
    this.#windowMs = windowMs;
  }

  log(level: LogLevel, kind: string, details: LogDetails, msg: string): void {
    const now = this.#clock.now();
    const seen = this.#kinds.get(kind);
    if (seen && now - seen.since < this.#windowMs) {
      seen.repeated++;
      seen.level = level;
      seen.details = details;
      return;
    }
    this.#kinds.delete(kind);
    if (this.#kinds.size >= MAX_KINDS) {
      const [oldest] = this.#kinds.keys();
      if (oldest !== undefined) {
        this.#report(oldest);
      }
    }
    this.#kinds.set(kind, { since: now, repeated: 0, level, details, msg });
    const obj = fields(details);
    this.#logger[level](seen && seen.repeated > 0 ? { ...obj, repeated: seen.repeated } : obj, msg);
  }

  /** Logs every count still pending and forgets them. */
  flush(): void {
    for (const kind of [...this.#kinds.keys()]) {
      this.#report(kind);
    }
  }

  #report(kind: string): void {
    const r = this.#kinds.get(kind);
    this.#kinds.delete(kind);
    if (r && r.repeated > 0) {
      this.#logger[r.level]({ ...fields(r.details), repeated: r.repeated }, r.msg);
    }
  }
}
