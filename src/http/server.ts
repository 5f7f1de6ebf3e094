import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger.js';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

export interface HttpServerOptions {
  host: string;
  port: number;
  logger: Logger;
}

/**
 * The one HTTP server of the process: health, readiness, metrics, API and the live page are
 * routes on it. Routes are matched by exact method and path.
 */
export class HttpServer {
  readonly #server: Server;
  readonly #routes = new Map<string, RouteHandler>();
  readonly #opts: HttpServerOptions;

  constructor(opts: HttpServerOptions) {
    this.#opts = opts;
    this.#server = createServer((req, res) => {
      void this.#dispatch(req, res);
    });
    this.route('GET', '/health', (_req, res) => {
      sendJson(res, 200, { status: 'ok' });
    });
  }

  route(method: string, path: string, handler: RouteHandler): void {
    this.#routes.set(`${method} ${path}`, handler);
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const handler = this.#routes.get(`${req.method ?? 'GET'} ${url.pathname}`);
    try {
      if (handler) {
        await handler(req, res, url);
      } else {
        sendJson(res, 404, { error: 'not found' });
      }
    } catch (err) {
      this.#opts.logger.error({ err, path: url.pathname }, 'http handler failed');
      if (!res.headersSent) {
        sendJson(res, 500, { error: 'internal error' });
      } else {
        res.destroy();
      }
    }
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#opts.port, this.#opts.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return this.#server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(text);
}
