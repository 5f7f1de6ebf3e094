/** Opaque handle of a pending timer. */
export type TimerHandle = { readonly __timer: unique symbol } | ReturnType<typeof setTimeout>;

/**
 * Time, injected: everything in rtp/, sip/ and src/ that waits or measures takes a Clock, so tests
 * drive it with a fake clock instead of waiting (see test/helpers/FakeClock.ts).
 */
export interface Clock {
  /**
   * Milliseconds: on a monotonic scale for {@link systemClock} (protocol timers, media, STT), since
   * the Unix epoch for {@link wallClock} (what is stored or carries a date).
   */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The longest delay Node's setTimeout honours: it fires a longer one (2^31 ms, about 24.8 days,
 * and up) after 1 ms, with only a warning.
 */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

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

/**
 * A timeout on an answer from the network. Node runs timers before I/O in an event-loop turn, so
 * after a stall (a burst of work) a plain timer fires while the answer waits unread in the socket;
 * here `fn` runs after that turn's I/O instead. Once the timer has fired `clearTimeout` no longer
 * stops `fn`: it must do nothing when the answer came meanwhile (settle once).
 */
export function setIoTimeout(clock: Clock, fn: () => void, ms: number): TimerHandle {
  return clock.setTimeout(() => setImmediate(fn), ms);
}

/**
 * Wall-clock time for what must mean the same after a restart or carries a date: the webhook
 * outbox stores due times in the database, events carry ISO 8601 timestamps. `now()` is epoch
 * milliseconds; timers are unref'd so a pending retry never keeps the process alive.
 * `test/helpers/FakeClock.ts` stands in for it too (`new FakeClock(Date.UTC(...))`).
 */
export const wallClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};
