/**
 * A clock that moves only when told to. `advance(ms)` fires every timer that falls due, in order
 * of due time (then of creation), with `now()` set to each timer's due time while it runs.
 * Structurally compatible with the `Clock` of lib/clock.ts.
 */
export class FakeClock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, { due: number; seq: number; fn: () => void }>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): never {
    const id = ++this.#seq;
    this.#timers.set(id, { due: this.#now + Math.max(0, ms), seq: id, fn });
    return id as never;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Number of timers still pending. */
  get pending(): number {
    return this.#timers.size;
  }

  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: [number, { due: number; seq: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (
          entry[1].due <= target &&
          (!next ||
            entry[1].due < next[1].due ||
            (entry[1].due === next[1].due && entry[1].seq < next[1].seq))
        ) {
          next = entry;
        }
      }
      if (!next) {
        break;
      }
      this.#timers.delete(next[0]);
      this.#now = next[1].due;
      next[1].fn();
    }
    this.#now = target;
  }
}
