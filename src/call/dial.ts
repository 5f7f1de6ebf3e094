/**
 * `sipscribe dial URI --wav FILE`: a test caller built on the product's own SIP UAC and RTP
 * session. It calls the URI, streams the WAV as G.711 (the negotiated codec) paced at ptime,
 * hangs up after the audio, and says whether the call succeeded.
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
import { sdpAddress } from './sdpAddress.js';

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
  /** How the call ended (ours: `bye-local`; the callee hanging up first: `bye-remote`). */
  readonly endReason: EndReason | null;
  readonly audioMs: number;
  readonly packetsSent: number;
  readonly codec: string | null;
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
  const audioMs = Math.round(pcm.length / 8);
  const target = targetFromUri(req.proxy ?? req.uri, req.transport ?? 'udp');
  if (!target) {
    throw new DialError('DIAL_ERR_URI', `not a SIP URI: ${req.uri}`);
  }
  const peer = await resolveHost(target.host.replace(/^\[|\]$/g, ''));
  const local = await sdpAddress(config, peer);
  const bindHost = local.includes(':') ? '::' : '0.0.0.0';
  const stack = new SipStack({
    listen: [
      { transport: 'udp', host: bindHost, port: 0 },
      { transport: 'tcp', host: bindHost, port: 0 },
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
      return { ok: false, status, endReason, audioMs, packetsSent: 0, codec: null };
    } finally {
      clearTimeout(timer);
    }
    logger.info(
      { codec: remote.codec, remote: `${remote.address}:${remote.port}`, audioMs },
      'answered: playing',
    );
    rtp.start(remote);
    rtp.play(pcm);
    let wait: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      ended,
      new Promise<void>((r) => (wait = setTimeout(r, audioMs + (req.tailMs ?? 1000)))),
    ]);
    clearTimeout(wait);
    const remoteHungUp = endReason !== null;
    if (!remoteHungUp) {
      await call.hangup();
      await Promise.race([ended, new Promise((r) => setTimeout(r, 5000))]);
    }
    const packetsSent = rtp.getStats().packetsSent;
    return {
      ok: endReason === 'bye-local' || endReason === 'bye-remote',
      status: 200,
      endReason,
      audioMs,
      packetsSent,
      codec: remote.codec,
    };
  } finally {
    rtp?.close();
    await stack.stop();
  }
}
