/**
 * Media on worker threads: each call's RTP session (sockets, jitter buffer, PLC, decoder,
 * upsampler, what is sent back, RTCP) runs on one of `threads` media threads instead of the main
 * thread, which keeps the rest of the application; frames come back one message per thread per
 * scheduler tick. A session is placed on the thread with the fewest. The application may run code
 * of its own beside the sessions on every thread (`extension`: `src/` puts its STT sockets there).
 * A thread that dies fails its sessions (`onFailed`: their calls end, their transcripts flushed)
 * and another takes its place for the next call.
 */
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { systemClock } from '../../lib/clock.js';
import { RepeatedLog, silentLogger, type Logger } from '../../lib/logger.js';
import { startModuleWorker } from '../../lib/moduleWorker.js';
import type { LogLevel } from '../../lib/threadPort.js';
import { RtpError, RtpPortsExhaustedError, RtpSessionStateError } from '../errors.js';
import { resolveOptions } from '../session/options.js';
import { checkRemoteMedia } from '../session/remoteMedia.js';
import type { RemoteMedia, RtpSessionDelegate, RtpSessionStats } from '../session/types.js';
import { FRAME_SAMPLES, type FromThread, type ThreadSessionOptions, type ToThread } from './messages.js';

interface MediaThreadsOptions {
  /** Media threads (1–64). */
  readonly threads: number;
  /** The pool's own lines (a thread that died). */
  readonly logger?: Logger;
  /** The lowest level a thread sends over (below it nothing crosses). Default `info`. */
  readonly logLevel?: LogLevel;
  /** Code of the application's that runs on every media thread beside the sessions. */
  readonly extension?: MediaThreadExtension;
}

/**
 * The application's code on the media threads (the STT sockets of the calls): a module loaded in
 * every thread, talking to the main thread over a port of its own.
 */
export interface MediaThreadExtension {
  /**
   * The module's URL (`.js`, or `.ts` under the test runner); it exports
   * `serve(port: MessagePort, logLevel: LogLevel): void`, called once the thread is up.
   */
  readonly module: string;
  /**
   * Thread `index` (0 … threads − 1) started, the first time or in place of one that died: `port`
   * talks to the module there. It emits `close` when the thread ends.
   */
  attach(port: MessagePort, index: number): void;
}

/**
 * A media thread's young generation: what it allocates dies young (datagrams, messages), and with
 * V8's default size it grew and stayed resident. With 6 MB, `bench load` at 200 calls (rtp.threads
 * auto, one thread, two runs each way): RSS 564 instead of 645–654 KB per call (about 17 MB less),
 * CPU unchanged.
 */
const YOUNG_GENERATION_MB = 6;

/** How often a delegate that keeps throwing is logged again (with its count), as in `RtpSession`. */
const DELEGATE_ERROR_WINDOW_MS = 30_000;

/** What the thread says about one session. */
type SessionMessage = Extract<FromThread, { t: 'dtmf' | 'timeout' | 'log' | 'closed' }>;

/** The main thread's side of a session on a media thread (what `RtpSession` offers a call). */
export class RemoteRtpSession {
  /** Upward notifications; may be replaced at any time. */
  delegate: RtpSessionDelegate;
  readonly localPort: number;
  readonly #log: Logger;
  /** A delegate that throws, logged once per window (as the output path of `RtpSession` does). */
  readonly #repeat: RepeatedLog;
  readonly #thread: MediaThread;
  readonly #id: number;
  #state: 'bound' | 'running' | 'closed' = 'bound';
  #stats: RtpSessionStats;
  #ended = false;
  readonly #closed: Promise<RtpSessionStats>;
  #resolveClosed!: (stats: RtpSessionStats) => void;

  constructor(
    thread: MediaThread,
    id: number,
    opened: { port: number; stats: RtpSessionStats },
    log: Logger,
    delegate: RtpSessionDelegate,
  ) {
    this.#thread = thread;
    this.#id = id;
    this.localPort = opened.port;
    this.#stats = opened.stats;
    this.#log = log;
    this.#repeat = new RepeatedLog(log, systemClock, DELEGATE_ERROR_WINDOW_MS);
    this.delegate = delegate;
    this.#closed = new Promise((r) => (this.#resolveClosed = r));
  }

  /**
   * Starts the call's media (see `RtpSession.start`).
   * @throws {RtpSessionStateError} when already started or closed
   * @throws {RtpConfigError} on what the session could not apply
   */
  start(remote: RemoteMedia): void {
    if (this.#state !== 'bound') {
      throw new RtpSessionStateError(`start() in state ${this.#state}`);
    }
    checkRemoteMedia(remote);
    this.#state = 'running';
    this.#thread.send({ t: 'start', id: this.#id, remote });
  }

  /**
   * A new remote description (see `RtpSession.update`).
   * @throws {RtpSessionStateError} when not started
   * @throws {RtpConfigError} on what the session could not apply
   */
  update(remote: RemoteMedia): void {
    if (this.#state !== 'running') {
      throw new RtpSessionStateError(`update() in state ${this.#state}`);
    }
    checkRemoteMedia(remote);
    this.#thread.send({ t: 'update', id: this.#id, remote });
  }

  /** The figures as of the thread's last report (once a second), or its final ones once closed. */
  getStats(): RtpSessionStats {
    return this.#stats;
  }

  /** `close()` was called and the thread has not answered yet. */
  get closing(): boolean {
    return this.#state === 'closed' && !this.#ended;
  }

  /** Resolves with the last figures once the thread has closed the session (or died). */
  get closed(): Promise<RtpSessionStats> {
    return this.#closed;
  }

  /** Stops the session: no frame is delivered after this; the thread releases its ports. Idempotent. */
  close(): void {
    if (this.#state === 'closed') {
      return;
    }
    this.#state = 'closed';
    this.#thread.send({ t: 'close', id: this.#id });
  }

  // ---- from the thread ----

  /** @internal */
  frame(frame: Float32Array, offsetMs: number): void {
    if (this.#state === 'running') {
      try {
        this.delegate.onFrame?.(frame, offsetMs);
      } catch (err) {
        this.#delegateFailed(err);
      }
    }
  }

  /** One call's bug must not stop the other frames of the batch, nor reach the thread's port. */
  #delegateFailed(err: unknown): void {
    this.#repeat.log('error', 'rtp-delegate-bug', () => ({ err }), 'unexpected error in an rtp delegate');
  }

  /** @internal */
  message(msg: SessionMessage): void {
    switch (msg.t) {
      case 'dtmf':
      case 'timeout':
        if (this.#state === 'running') {
          try {
            if (msg.t === 'dtmf') {
              this.delegate.onDtmf?.(msg.event);
            } else {
              this.delegate.onTimeout?.();
            }
          } catch (err) {
            this.#delegateFailed(err);
          }
        }
        return;
      case 'log':
        this.#log[msg.level](msg.obj, msg.msg);
        return;
      case 'closed':
        this.#stats = msg.stats;
        this.#end();
        return;
    }
  }

  /** @internal */
  stats(stats: RtpSessionStats): void {
    if (!this.#ended) {
      this.#stats = stats;
    }
  }

  /** @internal The thread died: no more frames, the figures as last reported. */
  failed(err: Error): void {
    const running = this.#state !== 'closed';
    this.#state = 'closed';
    this.#end();
    if (running) {
      try {
        this.delegate.onFailed?.(err);
      } catch (e) {
        this.#delegateFailed(e);
      }
    }
  }

  #end(): void {
    if (!this.#ended) {
      this.#ended = true;
      this.#repeat.flush();
      this.#thread.forget(this.#id);
      this.#resolveClosed(this.#stats);
    }
  }
}

interface Opening {
  readonly log: Logger;
  readonly delegate: RtpSessionDelegate;
  resolve(s: RemoteRtpSession): void;
  reject(err: Error): void;
}

/** One worker and the sessions on it. */
class MediaThread {
  readonly #worker: Worker;
  readonly #sessions = new Map<number, RemoteRtpSession>();
  readonly #opening = new Map<number, Opening>();
  /** The pool's logger: a line of a session it no longer knows. */
  readonly #log: Logger;
  #elu: ReturnType<Worker['performance']['eventLoopUtilization']>;
  #dead = false;
  /** The thread's JS heap in use as of its last report (bytes). */
  heapUsed = 0;

  constructor(
    log: Logger,
    logLevel: LogLevel,
    index: number,
    extension: MediaThreadExtension | undefined,
    onExit: (thread: MediaThread, err: Error) => void,
  ) {
    this.#log = log;
    const channel = extension ? new MessageChannel() : undefined;
    this.#worker = startModuleWorker(import.meta.url, 'mediaThread', {
      workerData: {
        logLevel,
        ...(extension && channel ? { extension: { module: extension.module, port: channel.port2 } } : {}),
      },
      ...(channel ? { transferList: [channel.port2] } : {}),
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    if (extension && channel) {
      extension.attach(channel.port1, index);
    }
    // The calls on it keep the process running, not the thread itself.
    this.#worker.unref();
    this.#elu = this.#worker.performance.eventLoopUtilization();
    this.#worker.on('message', (msg: FromThread) => this.#onMessage(msg));
    let error: Error | undefined;
    this.#worker.on('error', (err) => (error = err));
    this.#worker.on('exit', (code) => {
      this.#dead = true;
      const err = error ?? new RtpError('RTP_ERR_THREAD', `media thread exited (code ${code})`);
      for (const o of this.#opening.values()) {
        o.reject(new RtpError('RTP_ERR_THREAD', `media thread died: ${err.message}`));
      }
      this.#opening.clear();
      for (const s of [...this.#sessions.values()]) {
        s.failed(err);
      }
      onExit(this, err);
    });
  }

  /** Sessions on this thread, opening ones included. */
  get load(): number {
    return this.#sessions.size + this.#opening.size;
  }

  open(
    id: number,
    options: ThreadSessionOptions,
    log: Logger,
    delegate: RtpSessionDelegate,
  ): Promise<RemoteRtpSession> {
    return new Promise((resolve, reject) => {
      this.#opening.set(id, { log, delegate, resolve, reject });
      this.send({ t: 'open', id, options });
    });
  }

  send(msg: ToThread, transfer?: ArrayBuffer[]): void {
    if (!this.#dead) {
      this.#worker.postMessage(msg, transfer);
    }
  }

  forget(id: number): void {
    this.#sessions.delete(id);
  }

  busy(): number {
    const now = this.#worker.performance.eventLoopUtilization();
    const d = this.#worker.performance.eventLoopUtilization(now, this.#elu);
    this.#elu = now;
    return d.utilization;
  }

  /** Waits (up to `ms`) for the sessions closed by now to be closed by the thread, then ends it. */
  async terminate(ms: number): Promise<void> {
    const closing = [...this.#sessions.values()].filter((s) => s.closing).map((s) => s.closed);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(closing), new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
    await this.#worker.terminate();
  }

  #onMessage(msg: FromThread): void {
    switch (msg.t) {
      case 'frames': {
        const { ids, offsets, samples } = msg;
        for (let i = 0; i < ids.length; i++) {
          const s = this.#sessions.get(ids[i]!);
          s?.frame(samples.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES), offsets[i]!);
        }
        this.send({ t: 'recycle', samples }, [samples.buffer as ArrayBuffer]);
        return;
      }
      case 'opened': {
        const o = this.#opening.get(msg.id);
        if (o) {
          this.#opening.delete(msg.id);
          const s = new RemoteRtpSession(this, msg.id, msg, o.log, o.delegate);
          this.#sessions.set(msg.id, s);
          o.resolve(s);
        }
        return;
      }
      case 'open-failed': {
        const o = this.#opening.get(msg.id);
        this.#opening.delete(msg.id);
        o?.reject(
          msg.code === 'RTP_ERR_NO_PORTS'
            ? new RtpPortsExhaustedError(msg.message)
            : new RtpError(msg.code, msg.message),
        );
        return;
      }
      case 'stats':
        this.heapUsed = msg.heapUsed;
        for (let i = 0; i < msg.ids.length; i++) {
          this.#sessions.get(msg.ids[i]!)?.stats(msg.stats[i]!);
        }
        return;
      case 'log': {
        const s = this.#sessions.get(msg.id);
        if (s) {
          s.message(msg);
        } else {
          // A session still opening (its bind, its options) logs through the caller's logger.
          (this.#opening.get(msg.id)?.log ?? this.#log)[msg.level](msg.obj, msg.msg);
        }
        return;
      }
      case 'dtmf':
      case 'timeout':
      case 'closed':
        this.#sessions.get(msg.id)?.message(msg);
    }
  }
}

export class MediaThreads {
  readonly #threads: (MediaThread | null)[];
  readonly #log: Logger;
  readonly #logLevel: LogLevel;
  readonly #extension: MediaThreadExtension | undefined;
  #next = 1;
  #stopped = false;
  #deaths = 0;

  /** Starts `threads` media threads. */
  constructor(opts: MediaThreadsOptions) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1 || opts.threads > 64) {
      throw new RangeError(`media threads must be 1–64, got ${opts.threads}`);
    }
    this.#log = opts.logger ?? silentLogger;
    this.#logLevel = opts.logLevel ?? 'info';
    this.#extension = opts.extension;
    this.#threads = Array.from({ length: opts.threads }, (_, i) => this.#spawn(i));
  }

  /** Threads that died (each logged). */
  deaths(): number {
    return this.#deaths;
  }

  /**
   * Opens a session on the least loaded thread (see `RtpSession.open`).
   * @throws {RtpConfigError} on invalid options (checked here first)
   * @throws {RtpPortsExhaustedError} when no pair in the range can be bound
   * @throws {RtpError} `RTP_ERR_THREAD` when the pool is stopped or the thread died meanwhile
   */
  async open(
    options: ThreadSessionOptions,
    log: Logger,
    delegate: RtpSessionDelegate = {},
  ): Promise<RemoteRtpSession> {
    if (this.#stopped) {
      throw new RtpError('RTP_ERR_THREAD', 'media threads stopped');
    }
    resolveOptions(options, systemClock);
    let best = 0;
    for (let i = 0; i < this.#threads.length; i++) {
      const t = (this.#threads[i] ??= this.#spawn(i));
      if (t.load < this.#threads[best]!.load) {
        best = i;
      }
    }
    return this.#threads[best]!.open(this.#next++, options, log, delegate);
  }

  /**
   * Ends thread `i` as a crash would (tests: the path a thread that dies takes).
   * @internal
   */
  async terminateThread(i: number): Promise<void> {
    await this.#threads[i]?.terminate(0);
  }

  /** Per thread, the sessions on it (opening ones included). */
  sessions(): number[] {
    return this.#threads.map((t) => t?.load ?? 0);
  }

  /** Per thread, its JS heap in use as of its last report (once a second while it has sessions). */
  heapUsed(): number[] {
    return this.#threads.map((t) => t?.heapUsed ?? 0);
  }

  /** Per thread, the share of the time since the last call that its event loop was busy (0–1). */
  busy(): number[] {
    // A thread that died has left the list (its place is null until the next open).
    return this.#threads.map((t) => (t ? t.busy() : 0));
  }

  /**
   * Ends every thread, once the sessions closed by now are closed there (their RTCP BYE sent, ports
   * released; at most a second); sessions still open are failed.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#threads.flatMap((t) => (t ? [t.terminate(1000)] : [])));
  }

  #spawn(index: number): MediaThread {
    return new MediaThread(this.#log, this.#logLevel, index, this.#extension, (thread, err) => {
      const i = this.#threads.indexOf(thread);
      if (i >= 0) {
        this.#threads[i] = null;
      }
      if (!this.#stopped) {
        this.#deaths++;
        this.#log.error(
          { err, deaths: this.#deaths },
          'media thread died: its calls end; a new one takes its place',
        );
      }
    });
  }
}
