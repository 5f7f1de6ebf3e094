/**
 * What the WebSocket adapters (Twilio, FreeSWITCH) share: the upgrade refused with an HTTP status
 * before it completes, the `ws` server for one route (message size bounded by
 * `ingress.maxFrameBytes`), the connection's read flow for back-pressure, and constant-time secret
 * comparison.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { IngressKind } from '../events.js';
import type { Logger } from '../logger.js';
import type { SourceFlow } from './IngressCall.js';
import type { IngressCalls } from './IngressCalls.js';

/** Answers an upgrade request with `status` (e.g. `401 Unauthorized`) and closes the socket. */
export function refuseUpgrade(socket: Socket, status: string, headers: Record<string, string> = {}): void {
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n${extra}\r\n`);
}

/** A `ws` server without its own listener, for upgrades the HTTP server hands over. */
export function ingressWss(maxPayload: number, subprotocol?: string): WebSocketServer {
  return new WebSocketServer({
    noServer: true,
    maxPayload,
    perMessageDeflate: false,
    // Echo our subprotocol when the client offers it; accept clients that offer none.
    handleProtocols: (offered: Set<string>) =>
      subprotocol !== undefined && offered.has(subprotocol) ? subprotocol : false,
  });
}

/** Pauses and resumes reading a WebSocket (its messages wait in the socket meanwhile). */
export function wsFlow(ws: WebSocket): SourceFlow {
  return { pause: () => ws.pause(), resume: () => ws.resume() };
}

/** Whether two secrets are equal, in time independent of where they differ. */
export function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** The peer's address as `host:port`. */
export function remoteOf(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  return `${a.includes(':') ? `[${a}]` : a}:${req.socket.remotePort ?? 0}`;
}

/** Whether the server is HTTPS (the call's transport: `tls`) or plain HTTP (`tcp`). */
export function transportOf(req: IncomingMessage): 'tcp' | 'tls' {
  return (req.socket as Socket & { encrypted?: boolean }).encrypted ? 'tls' : 'tcp';
}

/**
 * A WebSocket's protocol errors (`ws` closes the connection itself): a message over
 * `ingress.maxFrameBytes` counted as `too-large`, any other framing error as `malformed`.
 */
export function countWsErrors(
  ws: WebSocket,
  source: Exclude<IngressKind, 'sip'>,
  calls: IngressCalls,
  log: Logger,
  fields: Record<string, unknown>,
): void {
  ws.on('error', (err: Error & { code?: string }) => {
    if (typeof err.code === 'string' && err.code.startsWith('WS_ERR_')) {
      calls.refused(source, err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'too-large' : 'malformed', {
        ...fields,
        detail: err.message,
      });
    } else {
      log.debug({ err, ...fields }, `${source} stream error`);
    }
  });
}
