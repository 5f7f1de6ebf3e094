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
