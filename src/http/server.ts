import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { isLoopbackHost } from '../config.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';

/** Path parameters of a route pattern (`/api/calls/:id` → `{ id }`). */
export type RouteParams = Readonly<Record<string, string>>;

export type RouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  params: RouteParams,
) => void | Promise<void>;

/** Takes over a WebSocket upgrade request (already authorised). */
export type UpgradeHandler = (req: IncomingMessage, socket: Socket, head: Buffer, url: URL) => void;

export interface HttpServerOptions {
  host: string;
  port: number;
  logger: Logger;
  /**
   * Bearer token required on every route except the public ones (`/health`, `/ready` and the page's
   * static files). Mandatory when `host` is not a loopback address.
   */
  token?: string | undefined;
}

export interface RouteOptions {
  /** Served without the token (health checks, the page's static files). Default false. */
  public?: boolean;
}

interface Route {
  method: string;
  segments: string[];
  handler: RouteHandler;
  public: boolean;
}

/**
 * The one HTTP server of the process: health, readiness, metrics, API, live feed and the page are
 * routes on it. Routes match by method and path; `:name` segments capture parameters.
 *
 * Authorisation: with a token configured, requests need `Authorization: Bearer <token>`, or
 * `?access_token=<token>` (browsers cannot set headers on WebSocket upgrades); otherwise 401.
 */
export class HttpServer {
  readonly #server: Server;
  readonly #routes: Route[] = [];
  readonly #upgrades = new Map<string, UpgradeHandler>();
  readonly #opts: HttpServerOptions;
  readonly #tokenHash: Buffer | null;
  /** Upgraded sockets: `server.close()` waits for them, but `closeAllConnections()` skips them. */
  readonly #upgraded = new Set<Socket>();

  /** @throws AppError `HTTP_ERR_TOKEN_REQUIRED` for a non-loopback host without a token. */
  constructor(opts: HttpServerOptions) {
    if (!isLoopbackHost(opts.host) && !opts.token) {
      throw new AppError(
        'HTTP_ERR_TOKEN_REQUIRED',
        `http.host ${opts.host} is not loopback: set http.token to protect the API`,
      );
    }
    this.#opts = opts;
    this.#tokenHash = opts.token ? sha256(opts.token) : null;
    this.#server = createServer((req, res) => {
      void this.#dispatch(req, res);
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      this.#upgrade(req, socket, head);
    });
    this.route(
      'GET',
      '/health',
      (_req, res) => {
        sendJson(res, 200, { status: 'ok' });
      },
      { public: true },
    );
  }

  route(method: string, path: string, handler: RouteHandler, opts: RouteOptions = {}): void {
    this.#routes.push({ method, segments: path.split('/'), handler, public: opts.public ?? false });
  }

  /** Routes WebSocket upgrade requests for `path` (always behind the token when there is one). */
  upgrade(path: string, handler: UpgradeHandler): void {
    this.#upgrades.set(path, handler);
  }

  /** Whether a request carries the token (true when none is configured). */
  authorized(req: IncomingMessage, url: URL): boolean {
    if (!this.#tokenHash) {
      return true;
    }
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    const given = m?.[1] ?? url.searchParams.get('access_token');
    return given !== null && given !== undefined && timingSafeEqual(sha256(given), this.#tokenHash);
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    let match: { route: Route; params: Record<string, string> } | undefined;
    let pathKnown = false;
    const parts = url.pathname.split('/');
    for (const route of this.#routes) {
      const params = matchPath(route.segments, parts);
      if (params) {
        pathKnown = true;
        if (route.method === method) {
          match = { route, params };
          break;
        }
      }
    }
    try {
      if (!match) {
        sendJson(res, pathKnown ? 405 : 404, { error: pathKnown ? 'method not allowed' : 'not found' });
      } else if (!match.route.public && !this.authorized(req, url)) {
        res.setHeader('www-authenticate', 'Bearer realm="sipscribe"');
        sendJson(res, 401, { error: 'unauthorized: send Authorization: Bearer <http.token>' });
      } else {
        await match.route.handler(req, res, url, match.params);
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

  #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const handler = this.#upgrades.get(url.pathname);
    const refuse = (status: string): void => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (!handler) {
      refuse('404 Not Found');
    } else if (!this.authorized(req, url)) {
      refuse('401 Unauthorized');
    } else {
      this.#upgraded.add(socket);
      socket.once('close', () => this.#upgraded.delete(socket));
      handler(req, socket, head, url);
    }
  }

  /**
   * Starts listening.
   * @throws AppError `HTTP_ERR_LISTEN` naming the address and the reason (in use, not permitted, …).
   */
  async listen(): Promise<AddressInfo> {
    const { host, port } = this.#opts;
    await new Promise<void>((resolve, reject) => {
      const fail = (err: NodeJS.ErrnoException): void => {
        const why =
          err.code === 'EADDRINUSE'
            ? 'the address is already in use (another sipscribe, or another program, on this port?)'
            : err.code === 'EACCES'
              ? 'permission denied (ports below 1024 need privileges)'
              : err.code === 'EADDRNOTAVAIL'
                ? 'this machine has no such address'
                : err.message;
        reject(
          new AppError('HTTP_ERR_LISTEN', `cannot listen for HTTP on ${host}:${port}: ${why}`, {
            cause: err,
          }),
        );
      };
      this.#server.once('error', fail);
      this.#server.listen(port, host, () => {
        this.#server.off('error', fail);
        resolve();
      });
    });
    return this.#server.address() as AddressInfo;
  }

  /** Stops listening and cuts every connection (close WebSocket users gracefully before this). */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    for (const s of this.#upgraded) {
      s.destroy();
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function matchPath(pattern: readonly string[], parts: readonly string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) {
    return null;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] ?? '';
    const v = parts[i] ?? '';
    if (p.startsWith(':')) {
      if (!v) {
        return null;
      }
      try {
        params[p.slice(1)] = decodeURIComponent(v);
      } catch {
        return null;
      }
    } else if (p !== v) {
      return null;
    }
  }
  return params;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}
