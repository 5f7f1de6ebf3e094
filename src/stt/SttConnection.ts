/**
 * One WebSocket to one moshi-server `/api/asr-streaming`: the handshake (API key in the
 * `kyutai-api-key` header, `?auth_id=` only as the documented fallback), the bounded wait for
 * `Ready` (or `Error{"no free channels"}` = full), binary MessagePack frames both ways, and the
 * socket's backpressure (`bufferedAmount`). No policy: the stream and the pool decide.
 */
import { setIoTimeout, type Clock } from '../../lib/clock.js';
import WebSocket from 'ws';
import { certificateVerifyError, type ClientTlsOptions } from '../tls/credentials.js';
import { SttError, STT_ERR } from './errors.js';
import type { PooledLink } from './streamTypes.js';
import type { Logger } from '../../lib/logger.js';
import {
  API_KEY_HEADER,
  API_KEY_QUERY,
  FRAME_SAMPLES,
  NO_FREE_CHANNELS,
  ProtocolDecodeError,
  audioMessageSize,
  decodeServerMessage,
  encodeAudio,
  encodeMarker,
  type ServerMessage,
} from './protocol.js';

/**
 * Where every connection encodes its audio messages: one buffer, reused. `ws` frames a send
 * synchronously (no compression, no Blob: nothing is queued) and masks the payload into the frame
 * it writes, so the buffer is free again when `send()` returns. One encode, one socket write, one
 * allocation (the masked frame) per 80 ms frame.
 */
const audioScratch = Buffer.allocUnsafe(audioMessageSize(FRAME_SAMPLES));

/** How long `close()` waits for the server's side of the close handshake before cutting the socket. */
const CLOSE_HANDSHAKE_MS = 2000;

/** Where and how to connect. */
export interface SttServerConfig {
  /** `ws://host:port/api/asr-streaming` (or `wss://`). */
  readonly url: string;
  /** Token listed in the server's `authorized_ids` (default `public_token`). */
  readonly apiKey?: string;
  /** Send the key as `?auth_id=` instead of the header (for proxies that strip headers). */
  readonly authInQuery?: boolean;
  /** `wss://` only: the CA file to verify the server against, or `verify: false` (config `stt.servers[].tls`). */
  readonly tls?: { readonly caFile?: string | undefined; readonly verify?: boolean } | undefined;
}

/** What the connection tells its owner. */
export interface SttConnectionDelegate {
  onMessage(msg: ServerMessage): void;
  /** The socket closed or failed after `Ready`; not called after the owner's own `close()`. */
  onClosed(err: SttError): void;
}

/** How to connect (`SttConnection.connect`, or a pool's `connect` option that does it elsewhere). */
export interface SttConnectOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Bound on the handshake plus the wait for `Ready` (ms). */
  readonly readyTimeoutMs: number;
  /** What to trust for `wss://` (the server's `tls`, loaded; default: the system store, verified). */
  readonly tls?: ClientTlsOptions | undefined;
}

/** The error for a failed connection attempt: certificate verification failures named as such. */
export function connectError(server: SttServerConfig, err: Error): SttError {
  const verify = certificateVerifyError(err);
  return verify
    ? new SttError(
        STT_ERR.TLS,
        `${server.url}: the server's TLS certificate failed verification (${verify}: ${err.message}); set tls.caFile of this stt.servers entry to the CA that signed it`,
        { server: server.url, cause: err },
      )
    : new SttError(STT_ERR.CONNECT, `cannot connect to ${server.url}: ${err.message}`, {
        server: server.url,
        cause: err,
      });
}

/** The URL actually dialled (with `?auth_id=` when configured). */
function dialUrl(server: SttServerConfig): string {
  if (!server.authInQuery) {
    return server.url;
  }
  const u = new URL(server.url);
  u.searchParams.set(API_KEY_QUERY, server.apiKey ?? 'public_token');
  return u.toString();
}

export class SttConnection implements PooledLink {
  readonly server: SttServerConfig;
  readonly #ws: WebSocket;
  readonly #logger: Logger;
  readonly #clock: Clock;
  #delegate: SttConnectionDelegate | undefined;
  #closedByUs = false;
  #open = true;
  /** Messages that arrived between `Ready` and the owner's `attach()`. */
  readonly #early: ServerMessage[] = [];
  /** Frames from the server that did not decode (counted, logged at debug, dropped). */
  badFrames = 0;
  /** Binary frames sent. */
  framesSent = 0;
  /** Highest `ws.bufferedAmount` seen right after a send (bytes). */
  maxBufferedAmount = 0;
  /** Clock time of the last sign of life from the server (a message or a WebSocket ping/pong). */
  lastActivityAt: number;
  /**
   * Resolves when the TCP connection is gone (after the close handshake, or at most 2 s after
   * `close()`, when it is cut). What a graceful stop waits for.
   */
  readonly closed: Promise<void>;

  private constructor(server: SttServerConfig, ws: WebSocket, logger: Logger, clock: Clock) {
    this.server = server;
    this.#clock = clock;
    this.lastActivityAt = clock.now();
    this.#ws = ws;
    this.#logger = logger;
    this.closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  }

  /**
   * Opens a stream and waits (bounded) for `Ready`.
   * @throws SttError `STT_ERR_AUTH` on 401, `STT_ERR_FULL` on "no free channels", `STT_ERR_SERVER`
   *   on another `Error`, `STT_ERR_READY_TIMEOUT`, `STT_ERR_TLS` (certificate not verified), or
   *   `STT_ERR_CONNECT`.
   */
  static async connect(server: SttServerConfig, opts: SttConnectOptions): Promise<SttConnection> {
    const { clock, logger } = opts;
    const headers: Record<string, string> = {};
    if (!server.authInQuery) {
      headers[API_KEY_HEADER] = server.apiKey ?? 'public_token';
    }
    const ws = new WebSocket(dialUrl(server), { headers, perMessageDeflate: false, ...opts.tls });
    ws.binaryType = 'nodebuffer';
    const conn = new SttConnection(server, ws, logger, clock);
    const where = { server: server.url };
    const onEarlyError = (err: Error): void => settle(connectError(server, err));
    const onEarlyClose = (code: number): void =>
      settle(new SttError(STT_ERR.CONNECT, `${server.url} closed before Ready (code ${code})`, where));
    let settle: (err?: SttError) => void = () => undefined;
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      settle = (err?: SttError): void => {
        if (settled) {
          return;
        }
        settled = true;
        clock.clearTimeout(timer);
        if (err) {
          conn.#open = false;
          ws.removeAllListeners('message');
          ws.on('error', () => undefined);
          ws.terminate();
          reject(err);
        } else {
          resolve();
        }
      };
      // After a stall (a burst of calls) the `Ready` may wait unread when the timer fires.
      const timer = setIoTimeout(
        clock,
        () =>
          settle(
            new SttError(
              STT_ERR.READY_TIMEOUT,
              `no Ready from ${server.url} within ${opts.readyTimeoutMs} ms`,
              where,
            ),
          ),
        opts.readyTimeoutMs,
      );
      ws.on('unexpected-response', (req, res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        req.destroy();
        settle(
          status === 401
            ? new SttError(
                STT_ERR.AUTH,
                `${server.url} refused the API key (HTTP 401): check stt.servers[].apiKey against the server's authorized_ids`,
                where,
              )
            : new SttError(
                STT_ERR.CONNECT,
                `${server.url} refused the WebSocket upgrade (HTTP ${status})`,
                where,
              ),
        );
      });
      ws.on('error', onEarlyError);
      ws.on('close', onEarlyClose);
      // moshi-server pings every 10 s when it has nothing else to send.
      ws.on('ping', () => {
        conn.lastActivityAt = clock.now();
      });
      ws.on('pong', () => {
        conn.lastActivityAt = clock.now();
      });
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        conn.lastActivityAt = clock.now();
        const msg = conn.#decode(data, isBinary);
        if (!msg) {
          return;
        }
        if (!settled) {
          if (msg.type === 'Ready') {
            settle();
          } else if (msg.type === 'Error') {
            settle(
              msg.message === NO_FREE_CHANNELS
                ? new SttError(STT_ERR.FULL, `${server.url} has no free channels`, where)
                : new SttError(STT_ERR.SERVER, `${server.url}: ${msg.message}`, where),
            );
          } else {
            logger.debug({ server: server.url, type: msg.type }, 'stt: message before Ready ignored');
          }
          return;
        }
        if (conn.#delegate) {
          conn.#delegate.onMessage(msg);
        } else {
          conn.#early.push(msg);
        }
      });
    });
    ws.off('error', onEarlyError);
    ws.off('close', onEarlyClose);
    ws.on('error', (err) => conn.#lost(`socket error: ${err.message}`, err));
    ws.on('close', (code) => conn.#lost(`socket closed (code ${code})`));
    return conn;
  }

  #decode(data: Buffer, isBinary: boolean): ServerMessage | null {
    if (!isBinary) {
      this.badFrames++;
      this.#logger.debug({ server: this.server.url }, 'stt: text frame from server ignored');
      return null;
    }
    try {
      const msg = decodeServerMessage(data);
      if (!msg) {
        this.badFrames++;
      }
      return msg;
    } catch (err) {
      // Bad input from the peer is counted and dropped; it never throws out of the socket handler.
      this.badFrames++;
      const why = err instanceof ProtocolDecodeError ? err.message : String(err);
      this.#logger.debug({ server: this.server.url, err: why }, 'stt: bad frame from server dropped');

      return null;
    }
  }

  #lost(reason: string, cause?: Error): void {
    if (!this.#open) {
      return;
    }
    this.#open = false;
    if (this.#closedByUs) {
      return;
    }
    this.#ws.terminate();
    this.#delegate?.onClosed(
      new SttError(STT_ERR.CLOSED, `${this.server.url}: ${reason}`, { server: this.server.url, cause }),
    );
  }

  /** Hands messages (including any that arrived since `Ready`) to `delegate`. */
  attach(delegate: SttConnectionDelegate): void {
    this.#delegate = delegate;
    for (const msg of this.#early.splice(0)) {
      delegate.onMessage(msg);
    }
    if (!this.#open && !this.#closedByUs) {
      delegate.onClosed(
        new SttError(STT_ERR.CLOSED, `${this.server.url}: closed before use`, { server: this.server.url }),
      );
    }
  }

  get isOpen(): boolean {
    return this.#open && this.#ws.readyState === WebSocket.OPEN;
  }

  /** Bytes queued in the socket, not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /** Sends one `Audio` message (always binary, float32 samples). */
  sendAudio(pcm: Float32Array): void {
    if (this.isOpen) {
      this.#sendBinary(pcm.length <= FRAME_SAMPLES ? encodeAudio(pcm, audioScratch) : encodeAudio(pcm));
    }
  }

  /** Sends `Marker{id}`. */
  sendMarker(id: number): void {
    this.#sendBinary(encodeMarker(id));
  }

  #sendBinary(bytes: Uint8Array): void {
    if (!this.isOpen) {
      return;
    }
    this.#ws.send(bytes, { binary: true });
    this.framesSent++;
    const buffered = this.#ws.bufferedAmount;
    if (buffered > this.maxBufferedAmount) {
      this.maxBufferedAmount = buffered;
    }
  }

  /** Closes the socket (frees the server's slot); no `onClosed` follows. */
  close(): void {
    this.#closedByUs = true;
    if (this.#open) {
      this.#open = false;
      this.#ws.on('error', () => undefined);
      this.#ws.close(1000);
      const ws = this.#ws;
      // A server that never answers the close handshake must not keep the socket (ws itself would
      // wait 30 s).
      const cut = this.#clock.setTimeout(() => ws.terminate(), CLOSE_HANDSHAKE_MS);
      void this.closed.then(() => this.#clock.clearTimeout(cut));
    }
  }
}
