import type { Clock, TimerHandle } from '../../lib/clock.js';

/** The grid every call's media time is aligned to (a divisor of the usual ptimes and of 20 ms). */
export const GRID_MS = 10;

/** One call's work at a grid tick: it does what is due at `now` (and catches up if late). */
export type MediaTick = (now: number) => void;

/**
 * One timer for every call's media on a clock: a tick every {@link GRID_MS} of that clock drives
 * each call's playout and sending, instead of two timers per call firing 50 times a second each.
 * Started by the first call, stopped with the last; deterministic under a fake clock. Calls join on
 * the grid (`join` returns the grid point their call time counts from), so what a call does at a
 * tick is due exactly then.
 */
export class MediaScheduler {
  static readonly #byClock = new WeakMap<Clock, MediaScheduler>();

  /** The scheduler of `clock` (one per clock). */
  static of(clock: Clock): MediaScheduler {
    let s = MediaScheduler.#byClock.get(clock);
    if (!s) {
      s = new MediaScheduler(clock);
      MediaScheduler.#byClock.set(clock, s);
    }
    return s;
  }

  readonly #clock: Clock;
  /** Members in joining order; a member that left is `undefined` until the next compaction. */
  #members: (MediaTick | undefined)[] = [];
  #count = 0;
  #anchor = 0;
  #timer: TimerHandle | undefined;
  readonly #onTimer = (): void => this.#tick();

  private constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Calls driven now. */
  get size(): number {
    return this.#count;
  }

  /**
   * Drives `tick` from the next grid point on.
   * @returns the grid point (≤ now) its call time counts from: now when the scheduler was idle
   */
  join(tick: MediaTick): number {
    const now = this.#clock.now();
    if (this.#count === 0) {
      this.#anchor = now;
      this.#schedule(now);
    }
    this.#members.push(tick);
    this.#count++;
    return this.align(now);
  }

  /** Stops driving `tick` (idempotent); the timer stops with the last call. */
  leave(tick: MediaTick): void {
    const i = this.#members.indexOf(tick);
    if (i < 0) {
      return;
    }
    this.#members[i] = undefined;
    this.#count--;
    if (this.#count === 0) {
      this.#members = [];
      if (this.#timer !== undefined) {
        this.#clock.clearTimeout(this.#timer);
        this.#timer = undefined;
      }
    }
  }

  /** The latest grid point at or before `t`. */
  align(t: number): number {
    return this.#anchor + Math.floor((t - this.#anchor) / GRID_MS) * GRID_MS;
  }

  #schedule(now: number): void {
    const next = this.align(now) + GRID_MS;
    this.#timer = this.#clock.setTimeout(this.#onTimer, next - now);
  }

  #tick(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    const members = this.#members;
    // Members joining during the tick start at the next one; members leaving are skipped.
    const n = members.length;
    let holes = false;
    for (let i = 0; i < n; i++) {
      const m = members[i];
      if (m === undefined) {
        holes = true;
      } else {
        try {
          m(now);
        } catch {
          // A member reports its own failures; one that throws must not stop every call's media.
        }
      }
    }
    if (this.#count === 0) {
      return;
    }
    if (holes && this.#members === members) {
      this.#members = members.filter((m) => m !== undefined);
    }
    if (this.#timer === undefined) {
      this.#schedule(now);
    }
  }
}
