/**
 * A media thread: the RTP sessions the main thread opens here (`MediaThreads`), each with its
 * sockets, jitter buffer, PLC, decoder and upsampler, driven by this thread's own scheduler. The
 * frames of one scheduler tick go to the main thread in one message (their samples in one
 * transferred buffer, handed back for reuse); DTMF, timeouts, log lines and once a second every
 * session's figures follow the same port.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import type { Logger } from '../../lib/logger.js';
import { RtpSession } from '../session/RtpSession.js';
import type { RtpSessionStats } from '../session/types.js';
import { FRAME_SAMPLES, type FromThread, type LogLevel, type ToThread } from './messages.js';

const port = parentPort!;
const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const minLevel = LEVELS.indexOf((workerData as { logLevel?: LogLevel } | undefined)?.logLevel ?? 'info');
/** Frames per transferred buffer (a full one goes at once and the tick's next frames start another). */
const BATCH_FRAMES = 32;
/** Buffers kept for reuse. */
const SPARE = 4;
const STATS_MS = 1000;

function post(msg: FromThread, transfer?: ArrayBuffer[]): void {
  port.postMessage(msg, transfer);
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

function loggerFor(id: number): Logger {
  const line =
    (level: LogLevel) =>
    (obj: object, msg?: string): void => {
      if (LEVELS.indexOf(level) < minLevel) {
        return;
      }
      try {
        post({ t: 'log', id, level, obj, ...(msg === undefined ? {} : { msg }) });
      } catch {
        post({ t: 'log', id, level, obj: cloneable(obj), ...(msg === undefined ? {} : { msg }) });
      }
    };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

/** The frames of the current tick, written straight into the buffer that will be transferred. */
class FrameBatch {
  #samples: Float32Array | null = null;
  #ids: number[] = [];
  #offsets: number[] = [];
  readonly #spare: Float32Array[] = [];
  #scheduled = false;
  readonly #flush = (): void => {
    this.#scheduled = false;
    this.flush();
  };

  add(id: number, frame: Float32Array, offsetMs: number): void {
    const n = this.#ids.length;
    if (n === BATCH_FRAMES) {
      this.flush();
      this.add(id, frame, offsetMs);
      return;
    }
    this.#samples ??= this.#spare.pop() ?? new Float32Array(BATCH_FRAMES * FRAME_SAMPLES);
    this.#samples.set(frame, n * FRAME_SAMPLES);
    this.#ids.push(id);
    this.#offsets.push(offsetMs);
    if (!this.#scheduled) {
      // The scheduler's tick runs every session at once: the batch goes once the tick is over.
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  flush(): void {
    const samples = this.#samples;
    const n = this.#ids.length;
    if (!samples || n === 0) {
      return;
    }
    post({ t: 'frames', ids: this.#ids, offsets: this.#offsets, samples }, [samples.buffer as ArrayBuffer]);
    this.#samples = null;
    this.#ids = [];
    this.#offsets = [];
  }

  recycle(samples: Float32Array): void {
    if (this.#spare.length < SPARE && samples.length === BATCH_FRAMES * FRAME_SAMPLES) {
      this.#spare.push(samples);
    }
  }
}

const sessions = new Map<number, RtpSession>();
const batch = new FrameBatch();
let statsTimer: ReturnType<typeof setInterval> | undefined;

function reportStats(): void {
  const ids: number[] = [];
  const stats: RtpSessionStats[] = [];
  for (const [id, s] of sessions) {
    ids.push(id);
    stats.push(s.getStats());
  }
  post({ t: 'stats', ids, stats, heapUsed: getHeapStatistics().used_heap_size });
}

async function open(id: number, msg: Extract<ToThread, { t: 'open' }>): Promise<void> {
  try {
    const session = await RtpSession.open(
      { ...msg.options, logger: loggerFor(id) },
      {
        onFrame: (frame, offsetMs) => batch.add(id, frame, offsetMs),
        onDtmf: (event) => post({ t: 'dtmf', id, event }),
        onTimeout: () => post({ t: 'timeout', id }),
      },
    );
    sessions.set(id, session);
    statsTimer ??= setInterval(reportStats, STATS_MS);
    post({ t: 'opened', id, port: session.localPort, stats: session.getStats() });
  } catch (err) {
    const e = err as Error & { code?: string };
    post({ t: 'open-failed', id, code: e.code ?? 'RTP_ERR', message: e.message });
  }
}

function handle(msg: ToThread): void {
  switch (msg.t) {
    case 'open':
      void open(msg.id, msg);
      return;
    case 'recycle':
      batch.recycle(msg.samples);
      return;
    case 'close': {
      const s = sessions.get(msg.id);
      if (!s) {
        return;
      }
      sessions.delete(msg.id);
      s.close();
      post({ t: 'closed', id: msg.id, stats: s.getStats() });
      if (sessions.size === 0 && statsTimer !== undefined) {
        clearInterval(statsTimer);
        statsTimer = undefined;
      }
      return;
    }
    case 'start':
    case 'update': {
      const s = sessions.get(msg.id);
      try {
        if (msg.t === 'start') {
          s?.start(msg.remote);
        } else {
          s?.update(msg.remote);
        }
      } catch (err) {
        // Checked on the main thread before it came: only a broken invariant lands here.
        loggerFor(msg.id).error({ err }, `media thread: ${msg.t} refused`);
      }
      return;
    }
  }
}

port.on('message', handle);
