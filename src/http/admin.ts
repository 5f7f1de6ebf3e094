/**
 * Admin routes (behind the token, like the rest of the API):
 * - `POST /api/admin/drain`: the instance stops taking calls (INVITE and OPTIONS get 503 with
 *   `Retry-After`, so a load balancer probing with OPTIONS takes it out of rotation; new ingress
 *   streams are refused, each source its own way) and lets the calls and streams it holds finish. The process keeps running (API, page, webhooks) until it is stopped:
 *   a SIGTERM then finds no call left and exits at once. There is no way back but a restart.
 *   Answers `202` with the drain status.
 * - `GET /api/admin/drain`: `{ "draining": bool, "calls": n }` (calls and ingress streams still in
 *   progress, flush included), to wait for `calls` to reach 0 before stopping the instance.
 */
import { sendJson, type HttpServer } from './server.js';

export interface DrainStatus {
  readonly draining: boolean;
  /** Calls in progress (from INVITE or stream start to the end of their transcript's flush). */
  readonly calls: number;
}

export interface Drainable {
  /** Starts draining (idempotent) and returns the status. */
  drain(): DrainStatus;
  drainStatus(): DrainStatus;
}

export function registerAdminRoutes(http: HttpServer, target: Drainable): void {
  http.route('POST', '/api/admin/drain', (_req, res) => {
    sendJson(res, 202, target.drain());
  });
  http.route('GET', '/api/admin/drain', (_req, res) => {
    sendJson(res, 200, target.drainStatus());
  });
}
