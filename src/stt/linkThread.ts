/**
 * The STT sockets on a media thread (loaded there by `MediaThreads` as its extension): the
 * connections the main thread's pool opens through `SttLinkThreads`, each an `SttConnection` here.
 * The costly part of a stream (MessagePack encoding, WebSocket framing and masking, the socket
 * writes and reads) runs here; the stream itself (pacing, replay, flush, words) stays on the main
 * thread. Frames come in one message per main-thread tick and their buffer goes back; what the
 * servers send goes to the main thread once per turn of this thread's event loop.
 */
import type { MessagePort } from 'node:worker_threads';
import { systemClock } from '../../lib/clock.js';
import { portLogger, type LogLevel } from '../../lib/threadPort.js';
import { STT_ERR, type SttErrorCode } from './errors.js';
import type { FromLinkThread, ToLinkThread } from './linkThreadMessages.js';
import { FRAME_SAMPLES, type ServerMessage } from './protocol.js';
import { SttConnection } from './SttConnection.js';

const IDLE_REPORT_MS = 1000;

export function serve(port: MessagePort, logLevel: LogLevel): void {
  const conns = new Map<number, SttConnection>();
  let inIds: number[] = [];
  let inMsgs: ServerMessage[] = [];
  let inScheduled = false;
  let idleTimer: ReturnType<typeof setInterval> | undefined;
  /** The main thread's side is gone: nothing is kept open for it. */
  let portClosed = false;

  /** What the servers sent goes once every socket read of this turn is done. */
  const flushIn = (): void => {
    inScheduled = false;
    if (inIds.length > 0) {
      port.postMessage({ t: 'in', ids: inIds, msgs: inMsgs } satisfies FromLinkThread);
      inIds = [];
      inMsgs = [];
    }
  };
  /** A message that must not overtake the servers' messages before it. */
  const send = (msg: FromLinkThread): void => {
    flushIn();
    port.postMessage(msg);
  };
  const log = portLogger((line) => send({ t: 'log', ...line }), logLevel);

  const reportIdle = (): void => {
    const now = systemClock.now();
    const ids: number[] = [];
    const idleMs: number[] = [];
    for (const [id, c] of conns) {
      ids.push(id);
      idleMs.push(now - c.lastActivityAt);
    }
    send({ t: 'idle', ids, idleMs });
  };

  const connect = async (msg: Extract<ToLinkThread, { t: 'connect' }>): Promise<void> => {
    const { id } = msg;
    let conn: SttConnection;
    try {
      const tls = msg.tls
        ? { ...msg.tls, ...(msg.tls.ca ? { ca: Buffer.from(msg.tls.ca) } : {}) }
        : undefined;
      conn = await SttConnection.connect(msg.server, {
        clock: systemClock,
        logger: log,
        readyTimeoutMs: msg.readyTimeoutMs,
        tls,
      });
    } catch (err) {
      const e = err as Error & { code?: SttErrorCode };
      send({ t: 'failed', id, code: e.code ?? STT_ERR.CONNECT, message: e.message });
      return;
    }
    if (portClosed) {
      conn.close();
      return;
    }
    conns.set(id, conn);
    idleTimer ??= setInterval(reportIdle, IDLE_REPORT_MS);
    // Before attach: the messages that came since Ready follow it.
    send({ t: 'ready', id });
    conn.attach({
      onMessage: (m) => {
        inIds.push(id);
        inMsgs.push(m);
        if (!inScheduled) {
          inScheduled = true;
          setImmediate(flushIn);
        }
      },
      onClosed: (err) => send({ t: 'lost', id, message: err.message }),
    });
    void conn.closed.then(() => {
      conns.delete(id);
      if (conns.size === 0 && idleTimer !== undefined) {
        clearInterval(idleTimer);
        idleTimer = undefined;
      }
      send({ t: 'gone', id });
    });
  };

  port.on('close', () => {
    portClosed = true;
    for (const c of conns.values()) {
      c.close();
    }
  });

  port.on('message', (msg: ToLinkThread) => {
    switch (msg.t) {
      case 'connect':
        void connect(msg);
        return;
      case 'audio': {
        const { ids, samples } = msg;
        const buffered: number[] = [];
        for (let i = 0; i < ids.length; i++) {
          const c = conns.get(ids[i]!);
          c?.sendAudio(samples.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES));
          buffered.push(c?.bufferedAmount ?? 0);
        }
        port.postMessage({ t: 'sent', ids, buffered, samples } satisfies FromLinkThread, [
          samples.buffer as ArrayBuffer,
        ]);
        return;
      }
      case 'pcm':
        conns.get(msg.id)?.sendAudio(msg.pcm);
        return;
      case 'marker':
        conns.get(msg.id)?.sendMarker(msg.marker);
        return;
      case 'close':
        conns.get(msg.id)?.close();
        return;
    }
  });
}
