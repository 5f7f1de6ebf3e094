/**
 * Time for the application layer. Unlike the monotonic `Clock` of `rtp/` and `sip/`, `now()` here
 * is wall-clock epoch milliseconds: the webhook outbox stores due times in the database, so they
 * must mean the same thing after a restart, and events carry ISO 8601 timestamps.
 * `test/helpers/FakeClock.ts` fits this interface structurally (`new FakeClock(Date.UTC(...))`).
 */
export type AppTimer = { readonly __appTimer: unique symbol } | ReturnType<typeof setTimeout>;

export interface AppClock {
  /** Wall-clock milliseconds since the Unix epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): AppTimer;
  clearTimeout(handle: AppTimer): void;
}

/** The process clock; timers are unref'd so a pending retry never keeps the process alive. */
export const systemAppClock: AppClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};
