/**
 * The hangup flush of one stream (moshi-protocol §4.3): after the caller's last frame, `Marker{id}`,
 * `ceil(delay/80)+2` zero frames at once (they push the model delay through), then one zero frame
 * per 80 ms until `Marker{id}` comes back; then `flushGraceMs` more (a word whose run ends on the last
 * audio frame is emitted one step after the Marker target). A server behind real time returns the
 * Marker only once it has worked through its backlog, so the wait is bounded by the server going
 * quiet: `flushTimeoutMs` without any message from it (a Step, a word) ends the flush incomplete,
 * and `flushMaxMs` bounds the whole wait however busy the server is. The stream owns the states;
 * this owns the Marker ids and the three timers.
 */
import type { Clock, TimerHandle } from '../../lib/clock.js';
import { FRAME_MS } from './protocol.js';
import type { SttLink, SttStreamSettings } from './streamTypes.js';

/** The flush's times, from the stream settings. */
type FlushTimes = Required<
  Pick<SttStreamSettings, 'modelDelayMs' | 'flushTimeoutMs' | 'flushMaxMs' | 'flushGraceMs'>
>;

interface FlushHooks {
  /** Sends one zero frame on the stream's current link (it also counts and buffers it). */
  sendSilence(): void;
  /** The stream is (still) in `flushing`. */
  isFlushing(): boolean;
  /** No Marker echo: the server sent nothing for `flushTimeoutMs`, or `flushMaxMs` passed. */
  onTimeout(quietMs: number | null): void;
  /** The Marker came back and the grace period is over: everything is transcribed. */
  onComplete(): void;
}

export class FlushSequence {
  readonly #clock: Clock;
  readonly #o: FlushTimes;
  readonly #hooks: FlushHooks;
  #markerSeq = 0;
  #marker = -1;
  #timeoutTimer: TimerHandle | undefined;
  #startedAt = 0;
  #silenceTimer: TimerHandle | undefined;
  #graceTimer: TimerHandle | undefined;

  constructor(clock: Clock, o: FlushTimes, hooks: FlushHooks) {
    this.#clock = clock;
    this.#o = o;
    this.#hooks = hooks;
  }

  /** True once the Marker came back (the grace period runs or ran). */
  get markerReturned(): boolean {
    return this.#graceTimer !== undefined;
  }

  /** Starts the bounds on the flush (once, when the stream enters `flushing`). */
  armTimeout(): void {
    this.#startedAt = this.#clock.now();
    this.#armTimeout();
  }

  /**
   * The server sent a message while we wait for the Marker: it is working through our audio, so
   * the quiet bound starts again (never beyond `flushMaxMs` from the start).
   */
  progress(): void {
    if (this.#timeoutTimer === undefined || this.#graceTimer !== undefined) {
      return;
    }
    this.#clock.clearTimeout(this.#timeoutTimer);
    this.#armTimeout();
  }

  #armTimeout(): void {
    const left = this.#startedAt + this.#o.flushMaxMs - this.#clock.now();
    const quiet = this.#o.flushTimeoutMs < left;
    this.#timeoutTimer = this.#clock.setTimeout(
      () => {
        this.#timeoutTimer = undefined;
        this.#hooks.onTimeout(quiet ? this.#o.flushTimeoutMs : null);
      },
      Math.max(0, quiet ? this.#o.flushTimeoutMs : left),
    );
  }

  /** Sends the Marker and the silence burst on `link` (again on a new link after a failover). */
  start(link: SttLink): void {
    this.#marker = ++this.#markerSeq;
    link.sendMarker(this.#marker);
    // Push the model delay through at once (moshi-protocol §4.3), then one zero frame per 80 ms.
    const burst = Math.ceil(this.#o.modelDelayMs / FRAME_MS) + 2;
    for (let i = 0; i < burst; i++) {
      this.#hooks.sendSilence();
    }
    this.#scheduleSilence();
  }

  /** A `Marker` came back from the server. */
  marker(id: number): void {
    if (this.#hooks.isFlushing() && id === this.#marker && this.#graceTimer === undefined) {
      // Words emitted on the step right after the target still arrive: keep silence a moment.
      this.#graceTimer = this.#clock.setTimeout(() => this.#hooks.onComplete(), this.#o.flushGraceMs);
    }
  }

  /** Clears every timer (the stream is closing). */
  stop(): void {
    for (const t of [this.#timeoutTimer, this.#silenceTimer, this.#graceTimer]) {
      if (t !== undefined) {
        this.#clock.clearTimeout(t);
      }
    }
    this.#timeoutTimer = this.#silenceTimer = this.#graceTimer = undefined;
  }

  #scheduleSilence(): void {
    if (this.#silenceTimer !== undefined) {
      this.#clock.clearTimeout(this.#silenceTimer);
    }
    this.#silenceTimer = this.#clock.setTimeout(() => {
      this.#silenceTimer = undefined;
      if (this.#hooks.isFlushing()) {
        this.#hooks.sendSilence();
        this.#scheduleSilence();
      }
    }, FRAME_MS);
  }
}
