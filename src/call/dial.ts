/**
 * `sipscribe dial URI --wav FILE`: a test caller built on the product's own SIP UAC and RTP
 * session. It calls the URI, streams the WAV as G.711 (the negotiated codec) paced at ptime,
 * hangs up after the audio, and says what happened: the audio actually sent before the call ended
 * (a callee that hangs up early gets part of the file) and why it ended. Its SIP listeners are
 * bound to the local address that reaches the target, so From, Contact and Via name an address the
 * callee can answer, never a wildcard.
 */
import { systemClock } from '../../lib/clock.js';
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { readWavAtRate, RtpSession, SRTP_SUITES } from '../../rtp/index.js';
import {
  CallRejectedError,
  SipStack,
  targetFromUri,
  type EndReason,
  type TransportProtocol,
  type SrtpPolicy,
} from '../../sip/index.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { routeAddress, sdpAddress } from './sdpAddress.js';

interface DialRequest {
  /** `sip:user@host[:port][;transport=tcp]` or `sips:…`. */
  readonly uri: string;
  /** The WAV file to play (any rate; mono or first channel; PCM, float, µ-law, A-law). */
  readonly wav: string;
  readonly transport?: TransportProtocol;
  /** From URI (default `sip:sipscribe@<our address>`). */
  readonly from?: string;
  /** Credentials for a 401/407 challenge to the INVITE (a trunk or PBX that authenticates callers). */
  readonly auth?: { readonly username: string; readonly password: string };
  /** Where to send the INVITE instead of the URI's host (an outbound proxy: `sip:host:port`). */
  readonly proxy?: string;
  /** Extra silence after the audio before hanging up, ms (default 1000: lets the far end's STT finish). */
  readonly tailMs?: number;
  /** Give up when not answered within this time, ms (default 30000). */
  readonly answerTimeoutMs?: number;
  /** SRTP of our offer (default off). */
  readonly srtp?: SrtpPolicy;
}

interface DialResult {
  readonly ok: boolean;
  /** Final SIP status of the INVITE (200 when answered). */
  readonly status: number;
  /**
   * How the call ended: `bye-local` (we hung up at the end of the file and its tail),
   * `bye-remote` (the callee hung up first); anything else, or null after an answer, is an error.
   */
  readonly endReason: EndReason | null;
  /** The file's length, ms. */
  readonly fileMs: number;
  /** The file's audio sent before the call ended, ms (less than `fileMs` when cut short). */
  readonly sentMs: number;
  /** RTP packets sent: the audio, then silence for the tail. */
  readonly packetsSent: number;
  readonly codec: string | null;
}

/** One line for a person: what was sent, and why the call ended. */
export function dialSummary(r: DialResult): string {
  if (r.status !== 200) {
    return `call failed: SIP ${r.status}`;
  }
  const sent = `${(r.sentMs / 1000).toFixed(2)} s of ${(r.fileMs / 1000).toFixed(2)} s of audio in ${r.packetsSent} RTP packets`;
  const codec = r.codec ?? '?';
  if (r.endReason === 'bye-remote') {
    return `call answered (${codec}), sent ${sent}, ended: the callee hung up`;
  }
  if (r.endReason === 'bye-local') {
    return `call answered (${codec}), sent ${sent}, ended: end of the file, we hung up`;
  }
  return `call answered (${codec}) but ended abnormally (${r.endReason ?? 'no answer to our BYE'}) after sending ${sent}`;
}

/** Errors of the dial command. */
class DialError extends AppError {}

async function resolveHost(host: string): Promise<string> {
  if (isIP(host)) {
    return host;
  }
  return (await lookup(host)).address;
}

/** Places one call and plays the file; resolves when the call is over. */
export async function dial(req: DialRequest, config: Config, logger: Logger): Promise<DialResult> {
  let bytes: Buffer;
  try {
    bytes = await readFile(req.wav);
  } catch (err) {
    throw new DialError('DIAL_ERR_WAV', `cannot read ${req.wav}: ${(err as Error).message}`);
  }
  let audio: Float32Array;
  try {
    audio = readWavAtRate(bytes, 8000);
  } catch (err) {
    throw new DialError(
      'DIAL_ERR_WAV',
      `${req.wav} is not a WAV file we can play: ${(err as Error).message}`,
    );
  }
  const pcm = new Int16Array(audio.length);
  for (let i = 0; i < audio.length; i++) {
    pcm[i] = Math.max(-32768, Math.min(32767, Math.round((audio[i] ?? 0) * 32768)));
  }
  const fileMs = Math.round(pcm.length / 8);
  const target = targetFromUri(req.proxy ?? req.uri, req.transport ?? 'udp');
  if (!target) {
    throw new DialError('DIAL_ERR_URI', `not a SIP URI: ${req.uri}`);
  }
  const peer = await resolveHost(target.host.replace(/^\[|\]$/g, ''));
  const local = await sdpAddress(config, peer);
  // Listeners on the address that reaches the target (not a wildcard): the stack names the bound
  // address in From, Contact and Via, and the callee's requests come back to it.
  const sipHost = await routeAddress(peer);
  const stack = new SipStack({
    listen: [
      { transport: 'udp', host: sipHost, port: 0 },
      { transport: 'tcp', host: sipHost, port: 0 },
    ],
    clock: systemClock,
    logger: logger.child({ part: 'sip' }),
    timers: config.sip.timers,
    userAgent: `${config.sip.userAgent} dial`,
    tls: {
      ...(config.sip.tls.caFile ? { caFile: config.sip.tls.caFile } : {}),
      verify: config.sip.tls.verify,
    },
    codecs: config.rtp.codecs,
    srtpSuites: SRTP_SUITES,
  });
  await stack.start();
  let rtp: RtpSession | null = null;
  try {
    rtp = await RtpSession.open(
      {
        host: config.rtp.host,
        portMin: config.rtp.portMin,
        portMax: config.rtp.portMax,
        clock: systemClock,
        logger,
        timeoutMs: 0,
      },
      {},
    );
    const call = stack.dial({
      to: req.uri,
      ...(req.from ? { from: req.from } : {}),
      ...(req.transport ? { transport: req.transport } : {}),
      ...(req.auth ? { auth: req.auth } : {}),
      ...(req.proxy ? { target: req.proxy } : {}),
      ...(req.srtp ? { srtp: req.srtp } : {}),
      local: { address: local, port: rtp.localPort },
    });
    let endReason: EndReason | null = null;
    const ended = new Promise<void>((resolve) =>
      call.on('ended', (r) => {
        endReason = r;
        resolve();
      }),
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answerTimeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        call.cancel();
        reject(new CallRejectedError(408, 'no answer'));
      }, req.answerTimeoutMs ?? 30_000);
    });
    let remote;
    try {
      remote = await Promise.race([call.answered, answerTimeout]);
    } catch (err) {
      const status = err instanceof CallRejectedError ? err.status : 500;
      logger.debug({ status, err }, 'call not answered');
      return { ok: false, status, endReason, fileMs, sentMs: 0, packetsSent: 0, codec: null };
    } finally {
      clearTimeout(timer);
    }
    logger.info(
      { codec: remote.codec, remote: `${remote.address}:${remote.port}`, fileMs },
      'answered: playing',
    );
    // Queued before the start: the first packet carries the file's first samples.
    rtp.play(pcm);
    rtp.start(remote);
    let wait: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      ended,
      new Promise<void>((r) => (wait = setTimeout(r, fileMs + (req.tailMs ?? 1000)))),
    ]);
    clearTimeout(wait);
    // The media stops with the call (the callee's BYE) or before our BYE: the figures are final.
    rtp.close();
    const sentMs = Math.round(rtp.playedSamples / 8);
    const packetsSent = rtp.getStats().packetsSent;
    if (endReason === null) {
      await call.hangup();
      let byeWait: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([ended, new Promise((r) => (byeWait = setTimeout(r, 5000)))]);
      clearTimeout(byeWait);
    }
    return {
      ok: endReason === 'bye-local' || endReason === 'bye-remote',
      status: 200,
      endReason,
      fileMs,
      sentMs,
      packetsSent,
      codec: remote.codec,
    };
  } finally {
    rtp?.close();
    await stack.stop();
  }
}
