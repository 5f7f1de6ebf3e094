/**
 * FreeSWITCH audio streams (`mod_audio_stream`, `mod_audio_fork`) as WebSockets on the HTTP server
 * at `/ingress/freeswitch/<callKey>?rate=8000|16000&channels=1|2`: the rate and the channel layout
 * are not in the stream, so the URL says them. An optional first text frame carries metadata (kept
 * in the log); then binary frames of signed 16-bit little-endian PCM, interleaved when stereo
 * (channel 0 = caller, 1 = callee: `mixed`/`mono` forks are one caller channel). A zero-length
 * binary frame or a close ends the stream; the `audio.drachtio.org` subprotocol is echoed when
 * offered (mod_audio_fork asks for it).
 *
 * Authentication before the upgrade completes: `Authorization: Bearer <ingress.freeswitch.token>`
 * (mod_audio_stream sends the headers of its `STREAM_EXTRA_HEADERS` JSON object), or Basic with the
 * token as the password, any user name (mod_audio_fork builds it from `MOD_AUDIO_BASIC_AUTH_USERNAME`
 * and `MOD_AUDIO_BASIC_AUTH_PASSWORD`); else 401. Neither module sends credentials in the URL.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { RawData, WebSocket } from 'ws';
import type { HttpServer } from '../http/server.js';
import type { Logger } from '../logger.js';
import type { Config } from '../config.js';
import type { IngressCalls, IngressRefusal } from './IngressCalls.js';
import {
  countWsErrors,
  ingressWss,
  refuseUpgrade,
  remoteOf,
  sameSecret,
  transportOf,
  wsFlow,
} from './wsIngress.js';

const FREESWITCH_PATH = '/ingress/freeswitch/';
/** The subprotocol mod_audio_fork offers. */
const DRACHTIO_SUBPROTOCOL = 'audio.drachtio.org';

/** Whether the request carries the token (Bearer, or Basic with it as the password). */
function freeswitchAuthorized(req: IncomingMessage, token: string): boolean {
  const auth = req.headers.authorization ?? '';
  const [scheme = '', value = ''] = auth.split(/\s+/, 2);
  if (scheme.toLowerCase() === 'bearer') {
    return sameSecret(value, token);
  }
  if (scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 && sameSecret(decoded.slice(colon + 1), token);
  }
  return false;
}

export function registerFreeswitchIngress(
  http: HttpServer,
  config: Config,
  calls: IngressCalls,
  log: Logger,
): void {
  const token = config.ingress.freeswitch.token ?? '';
  const wss = ingressWss(config.ingress.maxFrameBytes, DRACHTIO_SUBPROTOCOL);
  http.publicUpgrade(FREESWITCH_PATH, (req: IncomingMessage, socket: Socket, head: Buffer, url: URL) => {
    const key = decodeURIComponent(url.pathname.slice(FREESWITCH_PATH.length));
    const rate = Number(url.searchParams.get('rate') ?? '8000');
    const channels = Number(url.searchParams.get('channels') ?? '1');
    const refuse = (reason: IngressRefusal, status: string, detail: string): void => {
      calls.refused('freeswitch', reason, { remote: remoteOf(req), key, detail });
      refuseUpgrade(socket, status);
    };
    if (!freeswitchAuthorized(req, token)) {
      refuse('auth', '401 Unauthorized', 'no or wrong token');
      return;
    }
    if (key === '' || key.includes('/') || key.length > 200) {
      refuse('malformed', '400 Bad Request', 'the URL needs a call key: /ingress/freeswitch/<callKey>');
      return;
    }
    if (![8000, 16000].includes(rate) || ![1, 2].includes(channels)) {
      refuse('unsupported', '400 Bad Request', 'rate must be 8000 or 16000, channels 1 or 2');
      return;
    }
    if (calls.draining) {
      refuse('shutting-down', '503 Service Unavailable', 'draining: no new streams');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      new FreeswitchStream(ws, calls, log, {
        key,
        rate,
        channels,
        remote: remoteOf(req),
        transport: transportOf(req),
      });
    });
  });
}

class FreeswitchStream {
  readonly #ws: WebSocket;
  readonly #calls: IngressCalls;
  readonly #key: string;
  readonly #channels: number;
  #first = true;
  #over = false;
  readonly #call;

  constructor(
    ws: WebSocket,
    calls: IngressCalls,
    log: Logger,
    s: { key: string; rate: number; channels: number; remote: string; transport: 'tcp' | 'tls' },
  ) {
    this.#ws = ws;
    this.#calls = calls;
    this.#key = s.key;
    this.#channels = s.channels;
    const begun = calls.begin(
      {
        ingress: 'freeswitch',
        key: s.key,
        from: `freeswitch:${s.key}`,
        to: 'freeswitch',
        remote: s.remote,
        transport: s.transport,
        codec: `L16/${s.rate}${s.channels === 2 ? '/2' : ''}`,
        rate: s.rate,
        channels: s.channels === 2 ? ['caller', 'callee'] : ['caller'],
      },
      wsFlow(ws),
    );
    if (typeof begun === 'string') {
      this.#call = null;
      this.#over = true;
      ws.close(1013, `refused: ${begun}`);
      return;
    }
    this.#call = begun;
    ws.on('message', (data: RawData, isBinary: boolean) => this.#message(data, isBinary));
    countWsErrors(ws, 'freeswitch', calls, log, { key: this.#key });
    // A normal close (1000, 1001, or none given) ends the call as a hangup; an abrupt one as an error.
    ws.on('close', (code: number) => this.#end([1000, 1001, 1005].includes(code) ? 'bye-remote' : 'error'));
  }

  #message(data: RawData, isBinary: boolean): void {
    if (this.#over) {
      return;
    }
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (!isBinary) {
      if (this.#first) {
        this.#call?.log.info({ metadata: buf.toString('utf8').slice(0, 2000) }, 'freeswitch stream metadata');
      }
      this.#first = false;
      this.#call?.touch();
      return;
    }
    this.#first = false;
    if (buf.length === 0) {
      // The end of the stream (mod_audio_fork sends one at its graceful-shutdown; otherwise the
      // modules just close, normally 1000).
      this.#end('bye-remote');
      this.#ws.close(1000, 'stream ended');
      return;
    }
    const frameBytes = 2 * this.#channels;
    if (buf.length % frameBytes !== 0) {
      this.#fail('malformed', `binary frame of ${buf.length} bytes: not whole ${frameBytes}-byte samples`);
      return;
    }
    const pcm = new Int16Array(buf.length / 2);
    for (let i = 0; i < pcm.length; i++) {
      pcm[i] = buf.readInt16LE(i * 2);
    }
    if (this.#channels === 2) {
      this.#call?.pushInterleaved(pcm);
    } else {
      this.#call?.push(0, pcm);
    }
  }

  #fail(reason: IngressRefusal, detail: string): void {
    this.#calls.refused('freeswitch', reason, { key: this.#key, detail });
    this.#end('error');
    this.#ws.close(1007, detail.slice(0, 120));
  }

  #end(reason: 'bye-remote' | 'error'): void {
    if (this.#over) {
      return;
    }
    this.#over = true;
    void this.#call?.end(reason);
  }
}
