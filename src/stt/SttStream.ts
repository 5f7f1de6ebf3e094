/**
 * One call's STT stream: 1920-sample frames out at call time (as a paced source delivers them, or
 * paced by its `FramePacer`: `SttStreamOptions.pacing`), words and turns back in call time, the
 * hangup flush (Marker, silence, echo) and failover with no lost words.
 *
 * States: `streaming` ⇄ `reconnecting` → `flushing` → `closed` (and `failed`, when failover gave
 * up: the call goes on without STT, `flush()` then resolves with what was transcribed).
 */
import type { Clock } from '../../lib/clock.js';
import { SttError, STT_ERR } from './errors.js';
import { FlushSequence } from './FlushSequence.js';
import { FramePacer } from './FramePacer.js';
import { LagWatch } from './LagWatch.js';
import type { Logger } from '../../lib/logger.js';
import { FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE, type ServerMessage } from './protocol.js';
import type { SttConnectionDelegate } from './SttConnection.js';
import { resolveStreamSettings } from './streamTypes.js';
import { StreamTranscript } from './StreamTranscript.js';
import { planReplay, ReplayBuffer } from './timing.js';
import { WordTimeline } from './WordTimeline.js';
import type { FinalTranscript, SttUtterance, SttWord } from './types.js';

import type {
  SttLink,
  SttReconnectInfo,
  SttStreamDelegate,
  SttStreamHost,
  SttStreamOptions,
  SttStreamSettings,
  SttStreamState,
  SttStreamStats,
} from './streamTypes.js';

const ZERO = new Float32Array(FRAME_SAMPLES);
const BYTES_PER_FRAME = 9619;

export class SttStream {
  readonly callId: string;
  readonly stats: SttStreamStats = {
    framesSent: 0,
    framesFilled: 0,
    framesReplayed: 0,
    framesRefused: 0,
    duplicatesDropped: 0,
    reconnects: 0,
    maxBufferedPcm: 0,
    maxSocketBuffered: 0,
  };
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #host: SttStreamHost;
  /** Paces the frames of a source that does not pace itself (`pacing: 'stream'`); else null. */
  readonly #pacer: FramePacer | null;
  readonly #ring: ReplayBuffer;
  readonly #offsetMs: number;
  readonly #out: StreamTranscript;
  readonly #s: Required<SttStreamSettings>;
  #state: SttStreamState = 'streaming';
  #link: SttLink | null;
  readonly #flushSeq: FlushSequence;
  readonly #lag: LagWatch;
  #complete = false;
  #resolveFinal: ((t: FinalTranscript) => void) | undefined;
  #final: Promise<FinalTranscript> | undefined;
  #resolveEnded: (() => void) | undefined;
  /** Resolves when the stream has closed (after the flush, a `close()` or a failed failover). */
  readonly ended = new Promise<void>((resolve) => {
    this.#resolveEnded = resolve;
  });

  /** Use `SttPool.open()`; the constructor is for the pool and for tests. */
  constructor(
    link: SttLink,
    opts: SttStreamOptions,
    settings: SttStreamSettings,
    deps: { clock: Clock; logger: Logger; host: SttStreamHost; wallClock: () => number },
    delegate: SttStreamDelegate,
  ) {
    this.callId = opts.callId;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#host = deps.host;
    this.#s = resolveStreamSettings(settings);
    const now = this.#clock.now();
    const answeredAt = opts.answeredAt ?? now;
    this.#offsetMs = opts.startMs ?? Math.max(0, now - answeredAt);
    const wallAtAnswer = opts.answeredWallMs ?? deps.wallClock() - this.#offsetMs;
    this.#out = new StreamTranscript(
      new WordTimeline(this.#offsetMs, wallAtAnswer, this.#s.dedupToleranceMs),
      opts.turns ?? {},
      { callId: this.callId, logger: this.#logger, delegate, stats: this.stats },
    );
    this.#ring = new ReplayBuffer(Math.ceil(this.#s.replayBufferMs / FRAME_MS), opts.audio);
    this.#link = link;
    this.#flushSeq = new FlushSequence(this.#clock, this.#s, {
      sendSilence: () => this.#send(ZERO, true),
      isFlushing: () => this.#state === 'flushing',
      onTimeout: (quietMs) => {
        const detail = { server: this.#link?.server.url };
        const msg =
          quietMs === null
            ? `flush Marker not returned within ${this.#s.flushMaxMs} ms`
            : `flush Marker not returned: nothing from the server for ${quietMs} ms`;
        this.#out.error(new SttError(STT_ERR.FLUSH_TIMEOUT, msg, detail));
        this.#finish(false);
      },
      onComplete: () => this.#finish(true),
    });
    this.#lag = new LagWatch(
      { clock: this.#clock, logger: this.#logger, callId: this.callId },
      this.#s.lagThresholdMs,
      (server, lagMs) => this.#host.reportLag(server, lagMs),
    );
    const backlog = (opts.backlog ?? []).filter((pcm) => pcm.length === FRAME_SAMPLES);
    this.stats.framesRefused += (opts.backlog?.length ?? 0) - backlog.length;
    // The audio kept while the stream opened: frame k is due when the call was at its time
    // (answer + startMs + 80k ms). The frames whose time has passed (the opening delay) go out at
    // once, so the stream runs at call time instead of lagging by that delay for the whole call.
    let behindMs: number;
    if (opts.pacing === 'source') {
      // The source delivered each kept frame at its call time: all of them are due.
      this.#pacer = null;
      behindMs = backlog.length * FRAME_MS;
    } else {
      this.#pacer = new FramePacer(
        this.#clock,
        { leadFrames: this.#s.leadFrames, fillAfterFrames: this.#s.fillAfterFrames, speed: opts.speed ?? 1 },
        (pcm, filled) => this.#send(pcm, filled),
      );
      // Audio that arrived ahead of real time (a source's burst) still waits for its time; never
      // further back than the audio held: the pacer must not fill what is merely not here yet.
      for (const pcm of backlog) {
        this.#pacer.pushOwned(pcm);
      }
      behindMs = Math.min(backlog.length * FRAME_MS, Math.max(0, now - answeredAt - this.#offsetMs));
    }
    if (behindMs >= FRAME_MS) {
      // A backlog we put on the server on purpose: not judged as lag until it drains (bounded).
      this.#lag.mute(now + 2 * behindMs + 2000);
    }
    // NOTE: attach may deliver buffered messages or a loss at once: everything must exist by now.
    link.attach(this.#linkDelegate(link));
    if (this.#pacer) {
      this.#pacer.start(now - behindMs);
    } else {
      for (const pcm of backlog) {
        this.#send(pcm, false);
      }
    }
  }

  get state(): SttStreamState {
    return this.#state;
  }
  /** The server currently streamed to (null while reconnecting or after the end). */
  get server(): string | null {
    return this.#link?.server.url ?? null;
  }
  /** Caller frames waiting for their time (the deferred path feeds the stream by this). */
  get queuedFrames(): number {
    return this.#pacer?.queued ?? 0;
  }
  /** Call time (ms since answer) of the audio streamed so far. */
  get audioMs(): number {
    return this.#offsetMs + this.#ring.nextFrame * FRAME_MS;
  }
  get words(): readonly SttWord[] {
    return this.#out.words;
  }
  get utterances(): readonly SttUtterance[] {
    return this.#out.utterances;
  }

  /**
   * One frame of caller audio (exactly 1920 samples at 24 kHz): the next 80 ms of the call. With
   * `pacing: 'source'` it goes out now; else the pacer sends it at its time. The frame is
   * borrowed: sent before this returns when it is due, else copied (the caller may reuse it).
   * Frames pushed after `flush()`/`close()` are refused (counted).
   * @throws SttError `STT_ERR_FRAME_SIZE` when the frame is not 1920 samples.
   */
  pushFrame(pcm: Float32Array): void {
    if (pcm.length !== FRAME_SAMPLES) {
      throw new SttError(STT_ERR.FRAME_SIZE, `frame of ${pcm.length} samples, expected ${FRAME_SAMPLES}`);
    }
    if (this.#state === 'flushing' || this.#state === 'closed' || this.#state === 'failed') {
      this.stats.framesRefused++;

      return;
    }
    if (this.#pacer) {
      this.#pacer.push(pcm);
    } else {
      this.#send(pcm, false);
    }
  }

  /**
   * Hangup: stops taking caller audio, sends what is queued, then `Marker`, then silence (paced)
   * until the Marker returns (bounded by `flushTimeoutMs`), ends the open turn and closes.
   * Idempotent. Never rejects: `complete` says whether the Marker came back.
   */
  flush(): Promise<FinalTranscript> {
    if (this.#final) {
      return this.#final;
    }
    this.#final = new Promise<FinalTranscript>((resolve) => {
      this.#resolveFinal = resolve;
    });
    const wasFailed = this.#state === 'failed';
    const reconnecting = this.#state === 'reconnecting';
    this.#pacer?.drainAndStop();
    if (wasFailed || this.#state === 'closed') {
      this.#finish(false);

      return this.#final;
    }
    this.#state = 'flushing';
    this.#flushSeq.armTimeout();
    if (!reconnecting) {
      this.#startFlushOnLink();
    }

    return this.#final;
  }

  /** Ends at once without the flush (shutdown paths that cannot wait); frees the slot. */
  close(): void {
    if (this.#state === 'closed') {
      return;
    }
    this.#finish(false);
  }

  #startFlushOnLink(): void {
    if (this.#link) {
      this.#flushSeq.start(this.#link);
    }
  }

  #send(pcm: Float32Array, filled: boolean): void {
    this.#ring.push(pcm);
    this.stats.framesSent++;
    if (filled) {
      this.stats.framesFilled++;
    }
    const link = this.#link;
    if (link && this.#clock.now() - link.lastActivityAt > this.#s.deadPeerMs) {
      link.close();
      void this.#lost(
        link,
        new SttError(STT_ERR.CLOSED, `${link.server.url}: no sign of life for ${this.#s.deadPeerMs} ms`, {
          server: link.server.url,
        }),
      );
    } else if (link?.isOpen) {
      link.sendAudio(pcm);
      this.#lag.check(
        link.server,
        (link.bufferedAmount / BYTES_PER_FRAME) * FRAME_MS,
        'socket',
        this.#isFlushing(),
      );
      if (link.bufferedAmount > this.stats.maxSocketBuffered) {
        this.stats.maxSocketBuffered = link.bufferedAmount;
      }
    }
    this.#out.tick(this.#clock.now());
  }

  #linkDelegate(link: SttLink): SttConnectionDelegate {
    return {
      onMessage: (msg) => {
        if (this.#link === link) {
          this.#message(link, msg);
        }
      },
      onClosed: (err) => {
        if (this.#link === link) {
          void this.#lost(link, err);
        }
      },
    };
  }

  #message(link: SttLink, msg: ServerMessage): void {
    if (this.#state === 'flushing') {
      this.#flushSeq.progress();
    }
    switch (msg.type) {
      case 'Word':
        this.#out.word(msg.text, msg.start_time, this.#clock.now());
        break;
      case 'EndWord':
        this.#out.endWord(msg.stop_time);
        break;
      case 'Step':
        if (msg.buffered_pcm > this.stats.maxBufferedPcm) {
          this.stats.maxBufferedPcm = msg.buffered_pcm;
        }
        this.#lag.check(
          link.server,
          (msg.buffered_pcm / SAMPLE_RATE) * 1000,
          'buffered_pcm',
          this.#isFlushing(),
        );
        this.#out.step(msg.prs);
        break;
      case 'Marker':
        this.#flushSeq.marker(msg.id);
        break;
      case 'Error':
        this.#logger.warn(
          { callId: this.callId, server: link.server.url, message: msg.message },
          'stt: server error',
        );
        link.close();
        void this.#lost(
          link,
          new SttError(STT_ERR.SERVER, `${link.server.url}: ${msg.message}`, { server: link.server.url }),
        );
        break;
      case 'Ready':
        break;
    }
  }

  async #lost(link: SttLink, err: SttError): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'failed') {
      return;
    }
    const flushing = this.#state === 'flushing';
    const dropFrame = this.#ring.nextFrame;
    const lostAt = this.#clock.now();
    this.#link = null;
    this.#host.released(link);
    if (this.#flushSeq.markerReturned) {
      // The Marker already came back: everything is transcribed.
      return;
    }
    this.#logger.warn(
      { callId: this.callId, server: link.server.url, err: err.message },
      'stt: server lost, failing over',
    );
    this.#out.error(err);
    if (!flushing) {
      this.#state = 'reconnecting';
    }
    let next: SttLink;
    try {
      next = await this.#host.reconnect(link.server, this.#s.reconnectTimeoutMs);
    } catch (cause) {
      const msg = `no STT server took the call within ${this.#s.reconnectTimeoutMs} ms`;
      const e = new SttError(STT_ERR.FAILOVER, msg, { cause });
      this.#logger.error({ callId: this.callId, err: e.message }, 'stt: failover failed');
      this.#out.error(e);
      if (this.#isFlushing()) {
        this.#finish(false);
      } else if (!this.#isOver()) {
        this.#state = 'failed';
        this.#pacer?.stop();
      }

      return;
    }
    if (this.#isOver()) {
      next.close();
      this.#host.released(next);

      return;
    }
    const lastWordFrame = this.#out.timeline.lastWordFrame;
    const {
      frames: replay,
      prefixFrames: prefix,
      baseFrame,
    } = planReplay(this.#ring, {
      ...this.#s,
      dropFrame,
      lastWordFrame,
    });
    this.#out.timeline.rebase(baseFrame, dropFrame);
    this.#link = next;
    next.attach(this.#linkDelegate(next));
    for (let i = 0; i < prefix; i++) {
      next.sendAudio(ZERO);
    }
    for (const pcm of replay) {
      next.sendAudio(pcm);
    }
    this.stats.framesReplayed += replay.length;
    // The replay puts a backlog on the server on purpose: not judged until it drains (bounded).
    this.#lag.mute(this.#clock.now() + 2 * (replay.length + prefix) * FRAME_MS + 2000);
    this.stats.reconnects++;
    const info: SttReconnectInfo = {
      from: link.server.url,
      to: next.server.url,
      replayedMs: replay.length * FRAME_MS,
      outageMs: Math.round(this.#clock.now() - lostAt),
    };
    this.#logger.info({ callId: this.callId, ...info }, 'stt: failed over');
    this.#out.reconnected(info);
    if (this.#isFlushing()) {
      this.#startFlushOnLink();
    } else {
      this.#state = 'streaming';
    }
  }

  // NOTE: methods, so that TypeScript does not narrow the state across an await.
  #isOver(): boolean {
    return this.#state === 'closed' || this.#state === 'failed';
  }
  #isFlushing(): boolean {
    return this.#state === 'flushing';
  }

  #finish(complete: boolean): void {
    if (this.#state === 'closed') {
      // flush() after close(): the transcript as it stands.
      this.#resolveFinal?.(this.#snapshot());

      return;
    }
    this.#state = 'closed';
    this.#complete = complete;
    this.#pacer?.stop();
    this.#flushSeq.stop();
    this.#out.endTurn();
    const link = this.#link;
    this.#link = null;
    if (link) {
      link.close();
      this.#host.released(link);
    }
    this.#resolveFinal?.(this.#snapshot());
    this.#resolveEnded?.();
  }

  #snapshot(): FinalTranscript {
    return this.#out.snapshot(this.#complete, this.#ring.nextFrame * FRAME_MS, this.stats.reconnects);
  }
}
