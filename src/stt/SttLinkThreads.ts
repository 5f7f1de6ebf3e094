/**
 * The STT connections' sockets on the media threads: an extension of `MediaThreads` that loads
 * `linkThread.ts` on every media thread, and a connector for the pool (`SttPoolOptions.connect`)
 * that opens each connection on the thread holding the fewest and hands the pool a stand-in,
 * `RemoteSttConnection`. The stream's logic stays on the main thread; MessagePack encoding,
 * WebSocket framing and the socket I/O move to the threads, so the calls' STT streams spread over
 * the cores with their media. Frames cross in one transferred buffer per thread per tick; what the
 * servers send comes back once per turn of the thread's loop. A thread that dies loses its
 * connections (`onClosed`, as a server that drops one: the stream fails over); with no thread up,
 * connections open on the main thread.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { moduleBeside } from '../../lib/moduleWorker.js';
import { FrameBatch } from '../../lib/threadPort.js';
import type { MediaThreadExtension } from '../../rtp/index.js';
import { SttError, STT_ERR } from './errors.js';
import type { FromLinkThread, ToLinkThread } from './linkThreadMessages.js';
import { FRAME_SAMPLES, type ServerMessage } from './protocol.js';
import {
  SttConnection,
  type SttConnectionDelegate,
  type SttConnectOptions,
  type SttServerConfig,
} from './SttConnection.js';
import type { PooledLink } from './streamTypes.js';

/** Frames per transferred buffer. */
const BATCH_FRAMES = 32;

/** The main thread's side of a connection whose socket is on a media thread. */
class RemoteSttConnection implements PooledLink {
  readonly server: SttServerConfig;
  lastActivityAt: number;
  /** Unsent bytes on the socket as of the thread's last report (after this connection's last frame). */
  bufferedAmount = 0;
  readonly closed: Promise<void>;
  readonly #thread: LinkThread;
  readonly #id: number;
  readonly #clock: Clock;
  #delegate: SttConnectionDelegate | undefined;
  /** Messages that arrived before `attach()`. */
  readonly #early: ServerMessage[] = [];
  #open = true;
  /** How the socket was lost before `attach()` (not after our own `close()`). */
  #lost: SttError | undefined;
  #resolveClosed!: () => void;

  constructor(thread: LinkThread, id: number, server: SttServerConfig, clock: Clock) {
    this.#thread = thread;
    this.#id = id;
    this.server = server;
    this.#clock = clock;
    this.lastActivityAt = clock.now();
    this.closed = new Promise((r) => (this.#resolveClosed = r));
  }

  get isOpen(): boolean {
    return this.#open;
  }

  attach(delegate: SttConnectionDelegate): void {
    this.#delegate = delegate;
    for (const msg of this.#early.splice(0)) {
      delegate.onMessage(msg);
    }
    if (this.#lost) {
      delegate.onClosed(this.#lost);
    }
  }

  sendAudio(pcm: Float32Array): void {
    if (this.#open) {
      this.#thread.audio(this.#id, pcm);
    }
  }

  sendMarker(marker: number): void {
    if (this.#open) {
      this.#thread.send({ t: 'marker', id: this.#id, marker });
    }
  }

  /** Closes the socket (frees the server's slot); no `onClosed` follows. */
  close(): void {
    this.#lost = undefined;
    if (this.#open) {
      this.#open = false;
      this.#thread.send({ t: 'close', id: this.#id });
    }
  }

  // ---- from the thread ----

  /** @internal */
  message(msg: ServerMessage): void {
    this.lastActivityAt = this.#clock.now();
    if (this.#delegate) {
      this.#delegate.onMessage(msg);
    } else {
      this.#early.push(msg);
    }
  }

  /** @internal */
  idle(ms: number): void {
    this.lastActivityAt = Math.max(this.lastActivityAt, this.#clock.now() - ms);
  }

  /** @internal The socket closed or failed (or its thread died). */
  lost(err: SttError): void {
    if (!this.#open) {
      return;
    }
    this.#open = false;
    this.#lost = err;
    this.#delegate?.onClosed(err);
  }

  /** @internal */
  gone(): void {
    this.#thread.forget(this.#id);
    this.#resolveClosed();
  }
}

interface Connecting {
  readonly server: SttServerConfig;
  readonly clock: Clock;
  resolve(c: RemoteSttConnection): void;
  reject(err: SttError): void;
  /** The thread ended before `Ready`: the attempt starts again elsewhere (not the server's fault). */
  again(): void;
}

/** One media thread's STT side. */
class LinkThread {
  readonly #port: MessagePort;
  readonly #log: Logger;
  readonly #conns = new Map<number, RemoteSttConnection>();
  readonly #connecting = new Map<number, Connecting>();
  readonly #batch: FrameBatch;
  #dead = false;

  constructor(port: MessagePort, log: Logger, onClose: () => void) {
    this.#port = port;
    this.#log = log;
    this.#batch = new FrameBatch(FRAME_SAMPLES, BATCH_FRAMES, ({ ids, samples }) =>
      this.#port.postMessage({ t: 'audio', ids, samples } satisfies ToLinkThread, [
        samples.buffer as ArrayBuffer,
      ]),
    );
    port.on('message', (msg: FromLinkThread) => this.#onMessage(msg));
    port.on('close', () => {
      this.#dead = true;
      onClose();
      const connecting = [...this.#connecting.values()];
      this.#connecting.clear();
      for (const c of connecting) {
        c.again();
      }
      for (const c of [...this.#conns.values()]) {
        c.lost(
          new SttError(STT_ERR.CLOSED, `${c.server.url}: the media thread ended`, { server: c.server.url }),
        );
        c.gone();
      }
    });
  }

  /** Connections on this thread, opening ones included. */
  get load(): number {
    return this.#conns.size + this.#connecting.size;
  }

  /** Opens connection `id` here; `again` is called instead of an answer if the thread ends first. */
  connect(
    id: number,
    server: SttServerConfig,
    opts: SttConnectOptions,
    again: () => Promise<PooledLink>,
  ): Promise<PooledLink> {
    return new Promise((resolve, reject) => {
      this.#connecting.set(id, {
        server,
        clock: opts.clock,
        resolve,
        reject,
        again: () => void again().then(resolve, reject),
      });
      this.send({ t: 'connect', id, server, readyTimeoutMs: opts.readyTimeoutMs, tls: opts.tls });
    });
  }

  audio(id: number, pcm: Float32Array): void {
    if (pcm.length === FRAME_SAMPLES) {
      this.#batch.add(id, pcm);
    } else {
      this.send({ t: 'pcm', id, pcm });
    }
  }

  /** Any message but audio: the frames batched before it go first. */
  send(msg: ToLinkThread): void {
    if (!this.#dead) {
      this.#batch.flush();
      this.#port.postMessage(msg);
    }
  }

  forget(id: number): void {
    this.#conns.delete(id);
  }

  #onMessage(msg: FromLinkThread): void {
    switch (msg.t) {
      case 'ready': {
        const c = this.#connecting.get(msg.id);
        if (c) {
          this.#connecting.delete(msg.id);
          const conn = new RemoteSttConnection(this, msg.id, c.server, c.clock);
          this.#conns.set(msg.id, conn);
          c.resolve(conn);
        }
        return;
      }
      case 'failed': {
        const c = this.#connecting.get(msg.id);
        this.#connecting.delete(msg.id);
        c?.reject(new SttError(msg.code, msg.message, { server: c.server.url }));
        return;
      }
      case 'in':
        for (let i = 0; i < msg.ids.length; i++) {
          this.#conns.get(msg.ids[i]!)?.message(msg.msgs[i]!);
        }
        return;
      case 'sent':
        for (let i = 0; i < msg.ids.length; i++) {
          const c = this.#conns.get(msg.ids[i]!);
          if (c) {
            c.bufferedAmount = msg.buffered[i]!;
          }
        }
        this.#batch.recycle(msg.samples);
        return;
      case 'idle':
        for (let i = 0; i < msg.ids.length; i++) {
          this.#conns.get(msg.ids[i]!)?.idle(msg.idleMs[i]!);
        }
        return;
      case 'lost': {
        const c = this.#conns.get(msg.id);
        c?.lost(new SttError(STT_ERR.CLOSED, msg.message, { server: c.server.url }));
        return;
      }
      case 'gone':
        this.#conns.get(msg.id)?.gone();
        return;
      case 'log':
        this.#log[msg.level](msg.obj, msg.msg);
        return;
    }
  }
}

export class SttLinkThreads {
  /** By media thread index; null where none is up. */
  readonly #threads: (LinkThread | null)[] = [];
  readonly #log: Logger;
  #next = 1;

  /** What `MediaThreads` loads on every thread (its `extension` option). */
  readonly extension: MediaThreadExtension = {
    module: moduleBeside(import.meta.url, 'linkThread'),
    attach: (port, index) => {
      const t = new LinkThread(port, this.#log, () => {
        if (this.#threads[index] === t) {
          this.#threads[index] = null;
        }
      });
      this.#threads[index] = t;
    },
  };

  /** @param log where the threads' lines about the connections go (the pool's logger) */
  constructor(log: Logger) {
    this.#log = log;
  }

  /** Per media thread, the connections on it (opening ones included). */
  connections(): number[] {
    return Array.from(this.#threads, (t) => t?.load ?? 0);
  }

  /**
   * Opens a connection on the thread that holds the fewest (an `SttConnector`); with no thread
   * up (they all died and none has been replaced yet), on this thread. A thread that ends during
   * the handshake does not fail it: it starts again on another.
   */
  readonly connect = (server: SttServerConfig, opts: SttConnectOptions): Promise<PooledLink> => {
    let best: LinkThread | undefined;
    for (const t of this.#threads) {
      if (t && (!best || t.load < best.load)) {
        best = t;
      }
    }
    return best
      ? best.connect(this.#next++, server, opts, () => this.connect(server, opts))
      : SttConnection.connect(server, opts);
  };
}
