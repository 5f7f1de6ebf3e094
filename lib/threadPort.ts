/**
 * What crosses a worker thread's port in bulk, written once for every thread that needs it: audio
 * frames batched into one transferred buffer per tick (the media threads' frames to the main
 * thread, the main thread's STT audio to the threads that hold the STT sockets), and log lines
 * sent over to the logger on the other side.
 */
import type { Logger } from './logger.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** One log line on its way across a port. */
export interface PortLogLine {
  readonly level: LogLevel;
  readonly obj: object;
  readonly msg?: string;
}

/** A value that survives the structured clone: errors as their fields, functions dropped. */
function cloneable(obj: object): object {
  return JSON.parse(
    JSON.stringify(obj, (_k, v: unknown) =>
      v instanceof Error
        ? { type: v.name, message: v.message, code: (v as { code?: unknown }).code, stack: v.stack }
        : typeof v === 'bigint'
          ? String(v)
          : v,
    ),
  ) as object;
}

/**
 * A logger whose lines at `minLevel` and above are handed to `post` (which sends them across a
 * port); below it nothing is built or sent. Fields the structured clone refuses (an error's own
 * properties are kept as plain fields, functions dropped) are sent as their JSON form.
 */
export function portLogger(post: (line: PortLogLine) => void, minLevel: LogLevel): Logger {
  const min = LEVELS.indexOf(minLevel);
  const line =
    (level: LogLevel) =>
    (obj: object, msg?: string): void => {
      if (LEVELS.indexOf(level) < min) {
        return;
      }
      try {
        post({ level, obj, ...(msg === undefined ? {} : { msg }) });
      } catch {
        post({ level, obj: cloneable(obj), ...(msg === undefined ? {} : { msg }) });
      }
    };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

/** A batch ready to cross: frame i belongs to `ids[i]`, carries `tags[i]` and is `samples[size·i …]`. */
interface FrameBatchOut {
  readonly ids: number[];
  readonly tags: number[];
  readonly samples: Float32Array;
}

/**
 * Frames of one tick written straight into the buffer that will be transferred: the batch goes at
 * the end of the current task (a microtask), or at once when it holds `maxFrames`; the receiver
 * hands the buffer back (`recycle`) and it is used again.
 */
export class FrameBatch {
  readonly #frameSamples: number;
  readonly #maxFrames: number;
  readonly #post: (batch: FrameBatchOut) => void;
  #samples: Float32Array | null = null;
  #ids: number[] = [];
  #tags: number[] = [];
  readonly #spare: Float32Array[] = [];
  #scheduled = false;
  readonly #flush = (): void => {
    this.#scheduled = false;
    this.flush();
  };

  /** Buffers kept for reuse. */
  static readonly SPARE = 4;

  constructor(frameSamples: number, maxFrames: number, post: (batch: FrameBatchOut) => void) {
    this.#frameSamples = frameSamples;
    this.#maxFrames = maxFrames;
    this.#post = post;
  }

  /** Copies `frame` (`frameSamples` long) into the batch. */
  add(id: number, frame: Float32Array, tag = 0): void {
    const n = this.#ids.length;
    if (n === this.#maxFrames) {
      this.flush();
      this.add(id, frame, tag);
      return;
    }
    this.#samples ??= this.#spare.pop() ?? new Float32Array(this.#maxFrames * this.#frameSamples);
    this.#samples.set(frame, n * this.#frameSamples);
    this.#ids.push(id);
    this.#tags.push(tag);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  /** Sends what the batch holds now (before a message that must not overtake its frames). */
  flush(): void {
    const samples = this.#samples;
    if (!samples || this.#ids.length === 0) {
      return;
    }
    this.#post({ ids: this.#ids, tags: this.#tags, samples });
    this.#samples = null;
    this.#ids = [];
    this.#tags = [];
  }

  /** A buffer the receiver handed back. */
  recycle(samples: Float32Array): void {
    if (this.#spare.length < FrameBatch.SPARE && samples.length === this.#maxFrames * this.#frameSamples) {
      this.#spare.push(samples);
    }
  }
}
