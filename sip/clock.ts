/** Opaque handle of a pending timer. */
export type TimerHandle = { readonly __timer: unique symbol } | ReturnType<typeof setTimeout>;

/**
 * Time, injected: everything in this layer that waits or measures takes a Clock, so tests drive it
 * with a fake clock instead of waiting (see test/helpers/FakeClock.ts).
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (not wall-clock). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The longest delay Node's setTimeout honours: it fires a longer one (2^31 ms, about 24.8 days,
 * and up) after 1 ms, with only a warning.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** A wait longer than {@link MAX_TIMER_DELAY_MS}, made of legs no longer than it. */
class LongTimeout {
  #leg: ReturnType<typeof setTimeout> | undefined;

  constructor(fn: () => void, ms: number) {
    const run = (left: number): void => {
      this.#leg =
        left > MAX_TIMER_DELAY_MS
          ? setTimeout(() => run(left - MAX_TIMER_DELAY_MS), MAX_TIMER_DELAY_MS)
          : setTimeout(fn, left);
    };
    run(ms);
  }

  clear(): void {
    clearTimeout(this.#leg);
  }
}

/**
 * setTimeout without Node's overflow: any delay fires on time, however long (Infinity never).
 * @throws {RangeError} on a NaN delay (a computation went wrong; Node would fire it at once)
 */
function safeSetTimeout(fn: () => void, ms: number): TimerHandle {
  if (Number.isNaN(ms)) {
    throw new RangeError('timer delay is NaN');
  }
  if (ms <= MAX_TIMER_DELAY_MS) {
    return setTimeout(fn, Math.max(0, ms));
  }
  return new LongTimeout(fn, ms) as unknown as TimerHandle;
}

function safeClearTimeout(handle: TimerHandle): void {
  if ((handle as unknown) instanceof LongTimeout) {
    (handle as unknown as LongTimeout).clear();
  } else {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  }
}

/** The process clock; every delay is safe from setTimeout's 2^31−1 ms overflow. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: safeSetTimeout,
  clearTimeout: safeClearTimeout,
};
