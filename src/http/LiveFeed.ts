/**
 * The live feed, `GET /api/live` upgraded to a WebSocket: every event of every call as one JSON
 * text message, in publish order. A new client first receives every event so far of the calls
 * still active (unless it connects with `?replay=0`), then the live events, with no duplicates.
 * Clients send nothing (a message over 1 KiB closes the connection, 1009); a client that falls
 * more than `maxBufferedBytes` behind is disconnected (close code 1013) rather than buffering
 * without bound.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { CallEvent } from '../events.js';
import type { Logger } from '../logger.js';
import type { TranscriptBus, TranscriptSink } from '../transcripts/TranscriptBus.js';
import type { HttpServer } from './server.js';

/**
 * The largest message a live client may send (ws closes the connection with 1009 beyond it). Clients
 * send nothing; ws's default (100 MiB) let four clients take 500 MB.
 */
const LIVE_MAX_PAYLOAD_BYTES = 1024;

interface LiveFeedOptions {
  bus: TranscriptBus;
  logger: Logger;
  /** Default 4 MiB. */
  maxBufferedBytes?: number;
}

interface Client {
  ws: WebSocket;
  /** Per call, the last seq sent during the replay: the live path skips up to it. */
  replayed: Map<string, number>;
}

export class LiveFeed implements TranscriptSink {
  readonly name = 'live';
  readonly #wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: LIVE_MAX_PAYLOAD_BYTES,
  });
  readonly #clients = new Set<Client>();
  readonly #opts: LiveFeedOptions;
  #closing: Promise<void> | null = null;

  constructor(opts: LiveFeedOptions) {
    this.#opts = opts;
  }

  /** Registers `/api/live` on the HTTP server. */
  attach(http: HttpServer, path = '/api/live'): void {
    http.upgrade(path, (req: IncomingMessage, socket: Socket, head: Buffer, url: URL) => {
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#connected(ws, url));
    });
  }

  /** Connected clients. */
  get clients(): number {
    return this.#clients.size;
  }

  handle(event: CallEvent): void {
    const text = JSON.stringify(event);
    for (const c of this.#clients) {
      const done = c.replayed.get(event.callId);
      if (done !== undefined) {
        if (event.seq <= done) {
          continue;
        }
        c.replayed.delete(event.callId);
      }
      this.#send(c, text);
    }
  }

  #connected(ws: WebSocket, url: URL): void {
    const client: Client = { ws, replayed: new Map() };
    this.#clients.add(client);
    ws.on('close', () => this.#clients.delete(client));
    ws.on('error', (err) => {
      this.#opts.logger.debug({ err }, 'live client error');
    });
    // Clients have nothing to say; ignore anything they send.
    ws.on('message', () => undefined);
    if (url.searchParams.get('replay') !== '0') {
      for (const e of this.#opts.bus.activeEvents()) {
        client.replayed.set(e.callId, e.seq);
        this.#send(client, JSON.stringify(e));
      }
    }
    this.#opts.logger.debug({ clients: this.#clients.size }, 'live client connected');
  }

  #send(c: Client, text: string): void {
    if (c.ws.readyState !== WebSocket.OPEN) {
      return;
    }
    if (c.ws.bufferedAmount > (this.#opts.maxBufferedBytes ?? 4 * 1024 * 1024)) {
      this.#opts.logger.warn('live client too slow; disconnecting it');
      this.#clients.delete(c);
      c.ws.close(1013, 'too slow');
      return;
    }
    c.ws.send(text);
  }

  /** Closes every client (1001 going away) and the WebSocket server. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    for (const c of this.#clients) {
      c.ws.close(1001, 'server stopping');
    }
    await new Promise<void>((resolve) => {
      // Give clients a moment to answer the close frame, then cut them off.
      const t = setTimeout(() => {
        for (const c of this.#clients) {
          c.ws.terminate();
        }
        resolve();
      }, 1000);
      t.unref();
      if (this.#clients.size === 0) {
        clearTimeout(t);
        resolve();
      } else {
        for (const c of this.#clients) {
          c.ws.once('close', () => {
            if (this.#clients.size === 0) {
              clearTimeout(t);
              resolve();
            }
          });
        }
      }
    });
    this.#clients.clear();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}
