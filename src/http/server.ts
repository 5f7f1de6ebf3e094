import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { isLoopbackHost, MIN_TOKEN_LENGTH } from '../config.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ServerCredentials } from '../tls/credentials.js';
import { DownloadSigner } from './downloadLinks.js';
import { hostAllowed, originAllowed, type HostPolicy } from './hostCheck.js';

/** Path parameters of a route pattern (`/api/calls/:id` → `{ id }`). */
type RouteParams = Readonly<Record<string, string>>;

type RouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  params: RouteParams,
) => void | Promise<void>;

/** Takes over a WebSocket upgrade request (already authorised). */
type UpgradeHandler = (req: IncomingMessage, socket: Socket, head: Buffer, url: URL) => void;

interface HttpServerOptions {
  host: string;
  port: number;
  logger: Logger;
  /**
   * Bearer token required on every route except the public ones (`/health`, `/ready` and the page's
   * static files). Mandatory when `host` is not a loopback address; at least 16 characters.
   */
  token?: string | undefined;
  /** Names besides IP literals, `localhost` and `host` that clients may send as `Host` (hostCheck.ts). */
  allowedHosts?: readonly string[];
  /** Wall clock for download links (epoch ms). */
  now?: () => number;
  /** Serve HTTPS (and wss:// upgrades) with this certificate; plain HTTP when absent. */
  tls?: ServerCredentials | undefined;
}

/** TLS versions below this are refused (set again on every certificate change: Node resets it). */
const TLS_OPTIONS = { minVersion: 'TLSv1.2' } as const;

interface RouteOptions {
  /** Served without the token (health checks, the page's static files). Default false. */
  public?: boolean;
  /**
   * A download a browser opens as a plain link (it cannot send a header): the token is also taken
   * from `?access_token=`, and a signed link (`signDownload`) works without it. Default false.
   */
  download?: boolean;
}

interface Route {
  method: string;
  segments: string[];
  handler: RouteHandler;
  public: boolean;
  download: boolean;
}

/** Refused `Host` names logged (once each) before the server stops naming them. */
const MAX_LOGGED_HOSTS = 64;

/**
 * The one HTTP server of the process: health, readiness, metrics, API, live feed and the page are
 * routes on it. Routes match by method and path; `:name` segments capture parameters.
 *
 * Every request, in this order: a `Host` that does not name this server or a foreign `Origin` gets
 * 403 (hostCheck.ts: DNS rebinding, cross-site WebSocket hijacking); with a token configured, a
 * request for anything but a public route needs `Authorization: Bearer <token>` or gets 401 before
 * any routing (a stranger learns no route from a 404 or 405); `?access_token=<token>` is taken only
 * on WebSocket upgrades and download routes, which browsers open without headers, and a signed
 * download link (`signDownload`) opens its one download. Every response says it may not be framed
 * (`X-Frame-Options: DENY`, `frame-ancestors 'none'`) or sniffed (`nosniff`).
 */
export class HttpServer {
  readonly #server: Server | HttpsServer;
  readonly #routes: Route[] = [];
  readonly #upgrades = new Map<string, UpgradeHandler>();
  /** Public upgrade routes (their handler authenticates), by path or path prefix (ending in `/`). */
  readonly #publicUpgrades = new Map<string, UpgradeHandler>();
  readonly #opts: HttpServerOptions;
  readonly #hosts: HostPolicy;
  readonly #tokenHash: Buffer | null;
  readonly #signer = new DownloadSigner();
  readonly #now: () => number;
  readonly #loggedHosts = new Set<string>();
  /** Upgraded sockets: `server.close()` waits for them, but `closeAllConnections()` skips them. */
  readonly #upgraded = new Set<Socket>();

  /**
   * @throws AppError `HTTP_ERR_TOKEN_REQUIRED` for a non-loopback host without a token,
   *   `HTTP_ERR_TOKEN_TOO_SHORT` for a token under 16 characters.
   */
  constructor(opts: HttpServerOptions) {
    if (!isLoopbackHost(opts.host) && !opts.token) {
      throw new AppError(
        'HTTP_ERR_TOKEN_REQUIRED',
        `http.host ${opts.host} is not loopback: set http.token to protect the API`,
      );
    }
    if (opts.token !== undefined && opts.token.length < MIN_TOKEN_LENGTH) {
      throw new AppError(
        'HTTP_ERR_TOKEN_TOO_SHORT',
        `http.token has ${opts.token.length} characters: use at least ${MIN_TOKEN_LENGTH}`,
      );
    }
    this.#opts = opts;
    this.#hosts = { host: opts.host, allowedHosts: opts.allowedHosts ?? [] };
    this.#now = opts.now ?? Date.now;
    this.#tokenHash = opts.token ? sha256(opts.token) : null;
    const dispatch = (req: IncomingMessage, res: ServerResponse): void => {
      void this.#dispatch(req, res);
    };
    this.#server = opts.tls
      ? createHttpsServer({ ...TLS_OPTIONS, cert: opts.tls.cert, key: opts.tls.key }, dispatch)
      : createServer(dispatch);
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

  /** Whether the server speaks HTTPS. */
  get secure(): boolean {
    return this.#opts.tls !== undefined;
  }

  /**
   * Replaces the certificate for new connections (a renewal); connections already open, WebSocket
   * upgrades included, keep theirs.
   * @throws AppError `HTTP_ERR_NOT_TLS` on a plain HTTP server.
   */
  setCredentials(creds: ServerCredentials): void {
    if (!('setSecureContext' in this.#server)) {
      throw new AppError('HTTP_ERR_NOT_TLS', 'the HTTP server has no TLS to take a certificate');
    }
    this.#server.setSecureContext({ ...TLS_OPTIONS, cert: creds.cert, key: creds.key });
  }

  route(method: string, path: string, handler: RouteHandler, opts: RouteOptions = {}): void {
    this.#routes.push({
      method,
      segments: path.split('/'),
      handler,
      public: opts.public ?? false,
      download: opts.download ?? false,
    });
  }

  /** Routes WebSocket upgrade requests for `path` (always behind the token when there is one). */
  upgrade(path: string, handler: UpgradeHandler): void {
    this.#upgrades.set(path, handler);
  }

  /**
   * Routes upgrades for `path` (or every path under it, when it ends in `/`) that another system
   * opens with its own credentials (the ingress adapters): neither the token nor the Host/Origin
   * check applies, the handler authenticates the request before completing the upgrade.
   */
  publicUpgrade(path: string, handler: UpgradeHandler): void {
    this.#publicUpgrades.set(path, handler);
  }

  /** A short-lived link to a download route (`path` with its query) that works without the token. */
  signDownload(path: string): { url: string; expiresMs: number } {
    return this.#signer.sign(path, this.#now());
  }

  /**
   * Whether a request carries the token (true when none is configured): in its `Authorization`
   * header, or with `query` also as `?access_token=`.
   */
  authorized(req: IncomingMessage, url: URL, opts: { query?: boolean } = {}): boolean {
    if (!this.#tokenHash) {
      return true;
    }
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    const given = m?.[1] ?? (opts.query ? url.searchParams.get('access_token') : null);
    return given !== null && given !== undefined && timingSafeEqual(sha256(given), this.#tokenHash);
  }

  /** The Host/Origin check: null when the request may go on, else why not. */
  #foreign(req: IncomingMessage): string | null {
    const host = req.headers.host;
    if (!hostAllowed(host, this.#hosts)) {
      const name = host ?? '(none)';
      if (this.#loggedHosts.size < MAX_LOGGED_HOSTS && !this.#loggedHosts.has(name)) {
        this.#loggedHosts.add(name);
        this.#opts.logger.warn(
          { host: name, from: req.socket.remoteAddress },
          'http: request for a host name this server does not answer to refused (add it to http.allowedHosts if it is yours)',
        );
      }
      return `Host ${JSON.stringify(name)} is not a name of this server (http.allowedHosts)`;
    }
    if (!originAllowed(req.headers.origin, host, this.#hosts)) {
      this.#opts.logger.debug({ origin: req.headers.origin }, 'http: cross-origin request refused');
      return 'cross-origin requests are not allowed (http.allowedHosts)';
    }
    return null;
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
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
      const foreign = this.#foreign(req);
      if (foreign !== null) {
        sendJson(res, 403, { error: foreign });
      } else if (!match?.route.public && !this.#mayPass(req, url, match?.route)) {
        res.setHeader('www-authenticate', 'Bearer realm="sipscribe"');
        sendJson(res, 401, { error: 'unauthorized: send Authorization: Bearer <http.token>' });
      } else if (!match) {
        sendJson(res, pathKnown ? 405 : 404, { error: pathKnown ? 'method not allowed' : 'not found' });
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

  /** Authorisation of a non-public request: the header, or for a download the query or a signed link. */
  #mayPass(req: IncomingMessage, url: URL, route: Route | undefined): boolean {
    const download = route?.download ?? false;
    return (
      this.authorized(req, url, { query: download }) ||
      (download && (req.method === 'GET' || req.method === 'HEAD') && this.#signer.verify(url, this.#now()))
    );
  }

  #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const handler = this.#upgrades.get(url.pathname);
    const refuse = (status: string): void => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const open = [...this.#publicUpgrades].find(([p]) =>
      p.endsWith('/') ? url.pathname.startsWith(p) : url.pathname === p,
    );
    if (open) {
      this.#upgraded.add(socket);
      socket.once('close', () => this.#upgraded.delete(socket));
      open[1](req, socket, head, url);
    } else if (this.#foreign(req) !== null) {
      refuse('403 Forbidden');
    } else if (!this.authorized(req, url, { query: true })) {
      refuse('401 Unauthorized');
    } else if (!handler) {
      refuse('404 Not Found');
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
          new AppError(
            'HTTP_ERR_LISTEN',
            `cannot listen for HTTP${this.secure ? 'S' : ''} on ${host}:${port}: ${why}`,
            {
              cause: err,
            },
          ),
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
