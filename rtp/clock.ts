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

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
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
