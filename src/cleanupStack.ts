import type { Logger } from './logger.js';

/**
 * Resources taken one after another during start-up, released in reverse order by `run()` (on a
 * failed start or at stop). A step that fails is logged and the others still run.
 */
export class CleanupStack {
  readonly #steps: (() => unknown)[] = [];
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  push(...steps: (() => unknown)[]): void {
    this.#steps.push(...steps);
  }

  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        this.#logger.warn({ err }, 'cleanup step failed');
      }
    }
  }
}
