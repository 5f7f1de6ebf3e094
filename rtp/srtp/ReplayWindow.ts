/**
 * The replay list of RFC 3711 §3.3.2: the highest index authenticated so far and which of the
 * `size` indices below it were seen. {@link check} runs before authentication (it changes
 * nothing); {@link accept} only after the packet authenticated, so forged packets cannot move it.
 */
export class ReplayWindow {
  readonly size: number;
  readonly #seen: Uint8Array;
  #highest = -1;

  constructor(size = 128) {
    this.size = size;
    this.#seen = new Uint8Array(size);
  }

  /** The highest accepted index (-1 before the first). */
  get highest(): number {
    return this.#highest;
  }

  /** Whether `index` may be new: above the highest, or inside the window and not seen. */
  check(index: number): 'ok' | 'replayed' | 'too-old' {
    if (index > this.#highest) {
      return 'ok';
    }
    if (this.#highest - index >= this.size) {
      return 'too-old';
    }
    return this.#seen[index % this.size] ? 'replayed' : 'ok';
  }

  /** Marks `index` as seen (after it authenticated). */
  accept(index: number): void {
    const hi = this.#highest;
    if (index > hi) {
      if (hi < 0 || index - hi >= this.size) {
        this.#seen.fill(0);
      } else {
        for (let i = hi + 1; i < index; i++) {
          this.#seen[i % this.size] = 0;
        }
      }
      this.#highest = index;
    }
    this.#seen[index % this.size] = 1;
  }
}
