/**
 * Twilio Media Streams on the HTTP server at `/ingress/twilio` (`<Start><Stream url="wss://…">`),
 * as Twilio documents its WebSocket messages: `connected`, then `start` (accountSid, callSid,
 * streamSid, `tracks`, `customParameters`, `mediaFormat`: checked to be `audio/x-mulaw`, 8000 Hz,
 * mono), `media` (track, chunk, timestamp in ms since the stream's start, base64 μ-law payload),
 * `dtmf`, `mark`, and `stop`, or a close without `stop`. The `inbound` track is the caller,
 * `outbound` the callee (`track="both_tracks"`: two channels).
 *
 * Audio is ordered by chunk number, never by arrival (a window of {@link REORDER_WINDOW} chunks per
 * track); a gap in the timestamps (a lost chunk, a track that starts late) becomes silence, so
 * each track stays on the stream's timeline.
 *
 * Before the upgrade completes, `X-Twilio-Signature` must be the base64 HMAC-SHA1, keyed with
 * `ingress.twilio.authToken`, of the URL Twilio requested: `ingress.twilio.publicUrl`'s scheme and
 * host with the request's path and query; else 403.
 *
 * @see https://www.twilio.com/docs/voice/media-streams/websocket-messages
 * @see https://www.twilio.com/docs/usage/security#validating-requests
 */
import { createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { RawData, WebSocket } from 'ws';
import { decodeUlaw } from '../../rtp/index.js';
import type { Config } from '../config.js';
import type { HttpServer } from '../http/server.js';
import type { Logger } from '../logger.js';
import type { Channel } from '../transcripts/channelEvents.js';
import type { IngressCall } from './IngressCall.js';
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

const TWILIO_PATH = '/ingress/twilio';
/** Chunks held per track waiting for a missing one (1 s of 20 ms chunks). */
const REORDER_WINDOW = 50;
const RATE = 8000;

/** The signature Twilio sends for `url` (base64 HMAC-SHA1 keyed with the Auth Token). */
function twilioSignature(authToken: string, url: string): string {
  return createHmac('sha1', authToken).update(url, 'utf8').digest('base64');
}

export function registerTwilioIngress(
  http: HttpServer,
  config: Config,
  calls: IngressCalls,
  log: Logger,
): void {
  const authToken = config.ingress.twilio.authToken ?? '';
  const publicUrl = new URL(config.ingress.twilio.publicUrl ?? 'wss://localhost/ingress/twilio');
  const wss = ingressWss(config.ingress.maxFrameBytes);
  http.publicUpgrade(TWILIO_PATH, (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const signed = new URL(req.url ?? '/', publicUrl).href;
    const given = req.headers['x-twilio-signature'];
    if (typeof given !== 'string' || !sameSecret(given, twilioSignature(authToken, signed))) {
      calls.refused('twilio', 'auth', {
        remote: remoteOf(req),
        detail: 'X-Twilio-Signature missing or wrong',
      });
      refuseUpgrade(socket, '403 Forbidden');
      return;
    }
    if (calls.draining) {
      calls.refused('twilio', 'shutting-down', { remote: remoteOf(req), detail: 'draining: no new streams' });
      refuseUpgrade(socket, '503 Service Unavailable');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      new TwilioStream(ws, calls, log, remoteOf(req), transportOf(req));
    });
  });
}

/** A media chunk waiting for its turn. */
interface Chunk {
  readonly timestampMs: number;
  readonly ulaw: Buffer;
}

/** One track's chunks into call order, gaps filled with silence. */
class TrackOrder {
  readonly #waiting = new Map<number, Chunk>();
  #next = 1;
  /** Stream time (ms) up to which audio was emitted. */
  #endMs = 0;

  constructor(readonly emit: (pcm: Int16Array) => void) {}

  add(chunk: number, c: Chunk): void {
    if (chunk < this.#next || this.#waiting.has(chunk)) {
      return; // late or duplicate
    }
    this.#waiting.set(chunk, c);
    this.#drain();
    if (this.#waiting.size > REORDER_WINDOW) {
      // The missing chunk is not coming: skip to the oldest held (its timestamp places it).
      this.#next = Math.min(...this.#waiting.keys());
      this.#drain();
    }
  }

  /** The end of the stream: everything held, in order. */
  flush(): void {
    for (const k of [...this.#waiting.keys()].sort((a, b) => a - b)) {
      this.#next = k;
      this.#drain();
    }
  }

  #drain(): void {
    for (let c = this.#waiting.get(this.#next); c; c = this.#waiting.get(this.#next)) {
      this.#waiting.delete(this.#next);
      this.#next++;
      const gapMs = c.timestampMs - this.#endMs;
      if (gapMs >= 20) {
        // A gap in the timeline (a lost chunk, a track starting late): silence in its place.
        this.emit(new Int16Array(Math.round((gapMs * RATE) / 1000)));
        this.#endMs = c.timestampMs;
      }
      const pcm = new Int16Array(c.ulaw.length);
      decodeUlaw(c.ulaw, pcm);
      this.emit(pcm);
      this.#endMs += (c.ulaw.length * 1000) / RATE;
    }
  }
}

const TRACK_CHANNEL: Readonly<Record<string, Channel>> = { inbound: 'caller', outbound: 'callee' };

type Json = Record<string, unknown>;

/** A string field, or '' when absent or not a string. */
function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** A text message's UTF-8. */
function rawText(data: RawData): string {
  return (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)).toString('utf8');
}

function obj(v: unknown): Json | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
}

class TwilioStream {
  readonly #ws: WebSocket;
  readonly #calls: IngressCalls;
  readonly #remote: string;
  readonly #transport: 'tcp' | 'tls';
  #call: IngressCall | null = null;
  #streamSid = '';
  readonly #tracks = new Map<string, TrackOrder>();
  #over = false;

  constructor(ws: WebSocket, calls: IngressCalls, log: Logger, remote: string, transport: 'tcp' | 'tls') {
    this.#ws = ws;
    this.#calls = calls;
    this.#remote = remote;
    this.#transport = transport;
    ws.on('message', (data: RawData, isBinary: boolean) => this.#message(data, isBinary));
    countWsErrors(ws, 'twilio', calls, log, { remote });
    ws.on('close', () => {
      if (!this.#over && this.#call) {
        this.#call.log.info('twilio stream closed without stop');
      }
      this.#end('bye-remote');
    });
  }

  #message(data: RawData, isBinary: boolean): void {
    if (this.#over) {
      return;
    }
    let m: Json | null = null;
    if (!isBinary) {
      try {
        m = obj(JSON.parse(rawText(data)));
      } catch {
        m = null;
      }
    }
    if (!m || typeof m['event'] !== 'string') {
      this.#fail('malformed', 'not a JSON message with an event');
      return;
    }
    switch (m['event']) {
      case 'connected':
        return;
      case 'start':
        this.#start(m);
        return;
      case 'media':
        this.#media(m);
        return;
      case 'dtmf': {
        const digit = obj(m['dtmf'])?.['digit'];
        if (typeof digit !== 'string' || !/^[0-9*#A-D]$/.test(digit)) {
          this.#fail('malformed', 'dtmf without a digit');
          return;
        }
        this.#call?.dtmf(digit, 0);
        return;
      }
      case 'mark':
        this.#call?.touch();
        return;
      case 'stop':
        this.#end('bye-remote');
        this.#ws.close(1000, 'stop');
        return;
      default:
        // Twilio may add events: one we do not know is not an error.
        this.#call?.touch();
    }
  }

  #start(m: Json): void {
    const start = obj(m['start']);
    const format = obj(start?.['mediaFormat']);
    if (this.#call || !start) {
      this.#fail('malformed', this.#call ? 'a second start' : 'start without its start object');
      return;
    }
    if (
      format?.['encoding'] !== 'audio/x-mulaw' ||
      format['sampleRate'] !== RATE ||
      format['channels'] !== 1
    ) {
      this.#fail(
        'unsupported',
        `media format ${JSON.stringify(format)}: audio/x-mulaw, 8000 Hz, mono expected`,
      );
      return;
    }
    const tracks = Array.isArray(start['tracks']) ? start['tracks'] : ['inbound'];
    const channels = tracks.map((t) => TRACK_CHANNEL[String(t)]).filter((c): c is Channel => c !== undefined);
    if (
      channels.length === 0 ||
      channels.length !== tracks.length ||
      new Set(channels).size !== channels.length
    ) {
      this.#fail('malformed', `tracks ${JSON.stringify(tracks)}: inbound and/or outbound expected`);
      return;
    }
    const callSid = typeof start['callSid'] === 'string' ? start['callSid'] : '';
    this.#streamSid = typeof start['streamSid'] === 'string' ? start['streamSid'] : str(m['streamSid']);
    const params = obj(start['customParameters']) ?? {};
    const text = (k: string, dflt: string): string => (typeof params[k] === 'string' ? params[k] : dflt);
    const begun = this.#calls.begin(
      {
        ingress: 'twilio',
        key: callSid || this.#streamSid,
        from: text('from', `twilio:${callSid}`),
        to: text('to', 'twilio'),
        remote: this.#remote,
        transport: this.#transport,
        codec: 'PCMU/8000',
        rate: RATE,
        channels,
      },
      wsFlow(this.#ws),
    );
    if (typeof begun === 'string') {
      this.#over = true;
      this.#ws.close(1013, `refused: ${begun}`);
      return;
    }
    this.#call = begun;
    begun.log.info(
      { streamSid: this.#streamSid, accountSid: start['accountSid'], tracks },
      'twilio stream start',
    );
    tracks.forEach((t, i) => {
      this.#tracks.set(String(t), new TrackOrder((pcm) => begun.push(i, pcm)));
    });
  }

  #media(m: Json): void {
    const media = obj(m['media']);
    if (!this.#call) {
      this.#fail('malformed', 'media before start');
      return;
    }
    const track = this.#tracks.get(str(media?.['track']) || 'inbound');
    const chunk = Number(media?.['chunk']);
    const timestampMs = Number(media?.['timestamp']);
    const payload = media?.['payload'];
    if (
      !track ||
      !Number.isInteger(chunk) ||
      chunk < 1 ||
      !Number.isFinite(timestampMs) ||
      typeof payload !== 'string'
    ) {
      this.#fail('malformed', 'media without a known track, chunk, timestamp and payload');
      return;
    }
    track.add(chunk, { timestampMs, ulaw: Buffer.from(payload, 'base64') });
  }

  #fail(reason: IngressRefusal, detail: string): void {
    this.#calls.refused('twilio', reason, { remote: this.#remote, streamSid: this.#streamSid, detail });
    this.#end('error');
    this.#ws.close(1007, detail.slice(0, 120));
  }

  #end(reason: 'bye-remote' | 'error'): void {
    if (this.#over) {
      return;
    }
    this.#over = true;
    for (const t of this.#tracks.values()) {
      t.flush();
    }
    void this.#call?.end(reason);
  }
}
