/**
 * One call's STT stream: paced 1920-sample frames out, words and turns back in call time, the
 * hangup flush (Marker, silence, echo) and failover with no lost words.
 *
 * States: `streaming` ⇄ `reconnecting` → `flushing` → `closed` (and `failed`, when failover gave
 * up: the call goes on without STT, `flush()` then resolves with what was transcribed).
 */
import type { Clock, TimerHandle } from '../../rtp/index.js';
import { SttError, STT_ERR } from './errors.js';
import { FramePacer } from './FramePacer.js';
import type { Logger } from './logger.js';
import { FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE, type ServerMessage } from './protocol.js';
import type { SttConnectionDelegate } from './SttConnection.js';
import { ReplayBuffer, replayStartFrame } from './timing.js';
import { TurnDetector } from './TurnDetector.js';
import { WordTimeline } from './WordTimeline.js';
import type { FinalTranscript, SttUtterance, SttWord } from './types.js';

export type {
  SttLink,
  SttReconnectInfo,
  SttStreamDelegate,
  SttStreamHost,
  SttStreamOptions,
  SttStreamSettings,
  SttStreamState,
  SttStreamStats,
} from './streamTypes.js';
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
  readonly #delegate: SttStreamDelegate;
  readonly #pacer: FramePacer;
  readonly #ring: ReplayBuffer;
  readonly #turns: TurnDetector;
  readonly #offsetMs: number;
  readonly #timeline: WordTimeline;
  readonly #s: Required<SttStreamSettings>;
  #state: SttStreamState = 'streaming';
  #link: SttLink | null;
  readonly #utterances: SttUtterance[] = [];
  #markerSeq = 0;
  #flushMarker = -1;
  #flushTimer: TimerHandle | undefined;
  #silenceTimer: TimerHandle | undefined;
  #graceTimer: TimerHandle | undefined;
  #complete = false;
  #resolveFinal: ((t: FinalTranscript) => void) | undefined;
  #final: Promise<FinalTranscript> | undefined;
  #lagReportedAt = -Infinity;
  /** A replay puts a backlog on the server on purpose: lag is not judged until it drains (bounded). */
  #lagMutedUntil = -Infinity;
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
    this.#delegate = delegate;
    this.#s = {
      modelDelayMs: settings.modelDelayMs,
      flushTimeoutMs: settings.flushTimeoutMs ?? Math.max(5000, 3 * settings.modelDelayMs + 2000),
      flushGraceMs: settings.flushGraceMs ?? 240,
      replayBufferMs: settings.replayBufferMs ?? 10_000,
      minReplayMs: settings.minReplayMs ?? 3000,
      replayPrefixMs: settings.replayPrefixMs ?? (settings.modelDelayMs >= 2000 ? 1000 : 0),
      reconnectTimeoutMs: settings.reconnectTimeoutMs ?? 5000,
      deadPeerMs: settings.deadPeerMs ?? 15_000,
      dedupToleranceMs: settings.dedupToleranceMs ?? 160,
      lagThresholdMs: settings.lagThresholdMs ?? 1000,
      leadFrames: settings.leadFrames ?? 5,
      fillAfterFrames: settings.fillAfterFrames ?? 3,
    };
    const now = this.#clock.now();
    this.#offsetMs = Math.max(0, now - (opts.answeredAt ?? now));
    this.#timeline = new WordTimeline(
      this.#offsetMs,
      opts.answeredWallMs ?? deps.wallClock() - this.#offsetMs,
      this.#s.dedupToleranceMs,
    );
    this.#ring = new ReplayBuffer(Math.ceil(this.#s.replayBufferMs / FRAME_MS));
    this.#turns = new TurnDetector(opts.turns ?? {}, (u) => this.#utterance(u));
    this.#link = link;
    this.#pacer = new FramePacer(
      this.#clock,
      { leadFrames: this.#s.leadFrames, fillAfterFrames: this.#s.fillAfterFrames, speed: opts.speed ?? 1 },
      (pcm, filled) => this.#send(pcm, filled),
    );
    // NOTE: attach may deliver buffered messages or a loss at once: everything must exist by now.
    link.attach(this.#linkDelegate(link));
    this.#pacer.start();
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
    return this.#pacer.queued;
  }
  /** Call time (ms since answer) of the audio streamed so far. */
  get audioMs(): number {
    return this.#offsetMs + this.#ring.nextFrame * FRAME_MS;
  }
  get words(): readonly SttWord[] {
    return this.#timeline.words;
  }
  get utterances(): readonly SttUtterance[] {
    return this.#utterances;
  }

  /**
   * Hands over one frame of caller audio (exactly 1920 samples at 24 kHz); it is sent at its time.
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
    this.#pacer.push(pcm);
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
    this.#pacer.drainAndStop();
    if (wasFailed || this.#state === 'closed') {
      this.#finish(false);

      return this.#final;
    }
    this.#state = 'flushing';
    this.#flushTimer = this.#clock.setTimeout(() => {
      this.#flushTimer = undefined;
      this.#error(
        new SttError(STT_ERR.FLUSH_TIMEOUT, `flush Marker not returned within ${this.#s.flushTimeoutMs} ms`, {
          server: this.#link?.server.url,
        }),
      );
      this.#finish(false);
    }, this.#s.flushTimeoutMs);
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
    const link = this.#link;
    if (!link) {
      return;
    }
    this.#flushMarker = ++this.#markerSeq;
    link.sendMarker(this.#flushMarker);
    // Push the model delay through at once (moshi-protocol §4.3), then one zero frame per 80 ms.
    const burst = Math.ceil(this.#s.modelDelayMs / FRAME_MS) + 2;
    for (let i = 0; i < burst; i++) {
      this.#send(ZERO, true);
    }
    this.#scheduleSilence();
  }

  #scheduleSilence(): void {
    if (this.#silenceTimer !== undefined) {
      this.#clock.clearTimeout(this.#silenceTimer);
    }
    this.#silenceTimer = this.#clock.setTimeout(() => {
      this.#silenceTimer = undefined;
      if (this.#state === 'flushing') {
        this.#send(ZERO, true);
        this.#scheduleSilence();
      }
    }, FRAME_MS);
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
      this.#watchBacklog(link, (link.bufferedAmount / BYTES_PER_FRAME) * FRAME_MS, 'socket');
      if (link.bufferedAmount > this.stats.maxSocketBuffered) {
        this.stats.maxSocketBuffered = link.bufferedAmount;
      }
    }
    this.#turns.tick(this.#clock.now());
  }

  #watchBacklog(link: SttLink, lagMs: number, what: string): void {
    const now = this.#clock.now();
    if (lagMs <= this.#s.lagThresholdMs) {
      this.#lagMutedUntil = -Infinity;

      return;
    }
    // NOTE: the flush and a failover replay send audio ahead of real time on purpose.
    if (this.#state === 'flushing' || now < this.#lagMutedUntil) {
      return;
    }
    if (now - this.#lagReportedAt >= 5000) {
      this.#lagReportedAt = now;
      this.#logger.warn(
        { callId: this.callId, server: link.server.url, lagMs: Math.round(lagMs), what },
        'stt: server behind real time',
      );
    }
    this.#host.reportLag(link.server, lagMs);
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
    switch (msg.type) {
      case 'Word':
        this.#word(msg.text, msg.start_time);
        break;
      case 'EndWord': {
        const w = this.#timeline.endWord(msg.stop_time);
        if (w) {
          this.#call(() => this.#delegate.onWordEnd?.(w));
        }
        break;
      }
      case 'Step':
        if (msg.buffered_pcm > this.stats.maxBufferedPcm) {
          this.stats.maxBufferedPcm = msg.buffered_pcm;
        }
        this.#watchBacklog(link, (msg.buffered_pcm / SAMPLE_RATE) * 1000, 'buffered_pcm');
        this.#turns.step(msg.prs);
        break;
      case 'Marker':
        if (this.#state === 'flushing' && msg.id === this.#flushMarker && this.#graceTimer === undefined) {
          // Words emitted on the step right after the target still arrive: keep silence a moment.
          this.#graceTimer = this.#clock.setTimeout(() => this.#finish(true), this.#s.flushGraceMs);
        }
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

  #word(text: string, startS: number): void {
    const before = this.#timeline.duplicates;
    const word = this.#timeline.word(text, startS);
    if (!word) {
      if (this.#timeline.duplicates > before) {
        this.stats.duplicatesDropped++;
        this.#logger.debug({ callId: this.callId, text }, 'stt: replayed word dropped');
      }

      return;
    }
    this.#turns.word(word, this.#clock.now());
    this.#call(() => this.#delegate.onWord?.(word));
  }

  #utterance(u: SttUtterance): void {
    this.#utterances.push(u);
    this.#call(() => this.#delegate.onUtterance?.(u));
  }

  #error(err: SttError): void {
    this.#call(() => this.#delegate.onError?.(err));
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#logger.error({ callId: this.callId, err }, 'stt: delegate threw');
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
    if (this.#graceTimer !== undefined) {
      // The Marker already came back: everything is transcribed.
      return;
    }
    this.#logger.warn(
      { callId: this.callId, server: link.server.url, err: err.message },
      'stt: server lost, failing over',
    );
    this.#error(err);
    if (!flushing) {
      this.#state = 'reconnecting';
    }
    let next: SttLink;
    try {
      next = await this.#host.reconnect(link.server, this.#s.reconnectTimeoutMs);
    } catch (cause) {
      const e = new SttError(
        STT_ERR.FAILOVER,
        `no STT server took the call within ${this.#s.reconnectTimeoutMs} ms`,
        {
          cause,
        },
      );
      this.#logger.error({ callId: this.callId, err: e.message }, 'stt: failover failed');
      this.#error(e);
      if (this.#isFlushing()) {
        this.#finish(false);
      } else if (!this.#isOver()) {
        this.#state = 'failed';
        this.#pacer.stop();
      }

      return;
    }
    if (this.#isOver()) {
      next.close();
      this.#host.released(next);

      return;
    }
    const lastWordFrame = this.#timeline.lastWordFrame;
    const start = replayStartFrame({
      dropFrame,
      lastWordFrame,
      oldestFrame: this.#ring.oldestFrame,
      minFrames: Math.ceil(this.#s.minReplayMs / FRAME_MS),
      maxFrames: Math.ceil(this.#s.replayBufferMs / FRAME_MS),
    });
    const replay = this.#ring.since(start);
    const prefix = Math.ceil(this.#s.replayPrefixMs / FRAME_MS);
    // The new stream's time 0 is `prefix` frames before the first replayed call frame.
    this.#timeline.rebase(this.#ring.nextFrame - replay.length - prefix, dropFrame);
    this.#link = next;
    next.attach(this.#linkDelegate(next));
    for (let i = 0; i < prefix; i++) {
      next.sendAudio(ZERO);
    }
    for (const pcm of replay) {
      next.sendAudio(pcm);
    }
    this.stats.framesReplayed += replay.length;
    this.#lagMutedUntil = this.#clock.now() + 2 * (replay.length + prefix) * FRAME_MS + 2000;
    this.stats.reconnects++;
    const info: SttReconnectInfo = {
      from: link.server.url,
      to: next.server.url,
      replayedMs: replay.length * FRAME_MS,
      outageMs: Math.round(this.#clock.now() - lostAt),
    };
    this.#logger.info({ callId: this.callId, ...info }, 'stt: failed over');
    this.#call(() => this.#delegate.onReconnect?.(info));
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
    this.#pacer.stop();
    for (const t of [this.#flushTimer, this.#silenceTimer, this.#graceTimer]) {
      if (t !== undefined) {
        this.#clock.clearTimeout(t);
      }
    }
    this.#flushTimer = this.#silenceTimer = this.#graceTimer = undefined;
    this.#turns.flush();
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
    return {
      utterances: this.#utterances,
      words: this.#timeline.words,
      text: this.#utterances.map((u) => u.text).join(' '),
      complete: this.#complete,
      audioMs: this.#ring.nextFrame * FRAME_MS,
      reconnects: this.stats.reconnects,
    };
  }
}
