/**
 * `GET /health` (liveness, in HttpServer), `GET /ready` (readiness) and `GET /metrics`.
 *
 * Readiness is the AND of named checks that the wiring registers: SIP registrations up, at least
 * one STT server reachable, the database open. `/ready` answers 200 when every check passes and
 * 503 otherwise, with each check's result in the body.
 */
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { sendJson, sendText, type HttpServer } from './server.js';

/** One readiness check; it should answer fast (cache probes of remote servers). */
export interface ReadinessCheck {
  readonly name: string;
  check(): boolean | Promise<boolean>;
}

export class Readiness {
  readonly #checks: ReadinessCheck[] = [];
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  add(check: ReadinessCheck): void {
    this.#checks.push(check);
  }

  /** Runs every check; a check that throws counts as failed. */
  async evaluate(): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
    const results = await Promise.all(
      this.#checks.map(async (c) => {
        try {
          return [c.name, (await c.check()) === true] as const;
        } catch (err) {
          this.#logger.warn({ err, check: c.name }, 'readiness check failed');
          return [c.name, false] as const;
        }
      }),
    );
    return { ready: results.every(([, ok]) => ok), checks: Object.fromEntries(results) };
  }
}

export function registerHealthRoutes(http: HttpServer, readiness: Readiness, metrics: Metrics): void {
  http.route(
    'GET',
    '/ready',
    async (_req, res) => {
      const r = await readiness.evaluate();
      sendJson(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', checks: r.checks });
    },
    { public: true },
  );
  http.route('GET', '/metrics', async (_req, res) => {
    sendText(res, 200, metrics.registry.contentType, await metrics.registry.metrics());
  });
}
