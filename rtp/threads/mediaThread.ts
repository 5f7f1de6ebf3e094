/**
 * A media thread: the RTP sessions the main thread opens here (`MediaThreads`), each with its
 * sockets, jitter buffer, PLC, decoder and upsampler, driven by this thread's own scheduler. The
 * frames of one scheduler tick go to the main thread in one message (their samples in one
 * transferred buffer, handed back for reuse); DTMF, timeouts, log lines and once a second every
 * session's figures follow the same port. The application's extension module, when given, runs
 * here too, on a port of its own.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { Logger } from '../../lib/logger.js';
import { FrameBatch, portLogger, type LogLevel } from '../../lib/threadPort.js';
import { RtpSession } from '../session/RtpSession.js';
import type { RtpSessionStats } from '../session/types.js';
import { FRAME_SAMPLES, type FromThread, type ToThread } from './messages.js';

const port = parentPort!;
const data = workerData as
  { logLevel?: LogLevel; extension?: { module: string; port: MessagePort } } | undefined;
const minLevel: LogLevel = data?.logLevel ?? 'info';
/** Frames per transferred buffer (a full one goes at once and the tick's next frames start another). */
const BATCH_FRAMES = 32;
const STATS_MS = 1000;

function post(msg: FromThread, transfer?: ArrayBuffer[]): void {
  port.postMessage(msg, transfer);
}

function loggerFor(id: number): Logger {
  return portLogger((line) => post({ t: 'log', id, ...line }), minLevel);
}

const sessions = new Map<number, RtpSession>();
// The scheduler's tick runs every session at once: its frames go in one message once it is over.
const batch = new FrameBatch(FRAME_SAMPLES, BATCH_FRAMES, ({ ids, tags, samples }) =>
  post({ t: 'frames', ids, offsets: tags, samples }, [samples.buffer as ArrayBuffer]),
);
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

// The application's code for this thread (`MediaThreadsOptions.extension`), beside the sessions.
if (data?.extension) {
  const ext = data.extension;
  const mod = (await import(ext.module)) as { serve(port: MessagePort, logLevel: LogLevel): void };
  mod.serve(ext.port, minLevel);
}
