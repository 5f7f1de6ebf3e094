/**
 * Plain RTP on one UDP port (`ingress.rtp`), as Asterisk's ARI `externalMedia` sends it
 * (`encapsulation=rtp`, `transport=udp`, `format=ulaw|alaw`): each channel sends from its own local
 * port, 20 ms packets, the payload type of its format (0 μ-law, 8 A-law), and nothing else: no
 * signalling, so a source is one call from its first packet until `rtp.timeoutMs` without one.
 *
 * How it is built: a demultiplexer over the one socket. Each source `address:port` (Asterisk's
 * `UNICASTRTP_LOCAL_ADDRESS`/`UNICASTRTP_LOCAL_PORT` of the channel) admitted by `IngressCalls`
 * gets its own `RtpSession` from `rtp/index.ts`, opened on an in-memory socket (`SocketFactory`)
 * that this demultiplexer feeds with that source's datagrams: the same receive path as a SIP call
 * (parsing, SSRC changes, jitter buffer, G.711 decode and concealment, 8 → 24 kHz). The session's
 * 24 kHz frames go to the call (`IngressCall.push` at 24 kHz); its `onTimeout` ends the call
 * (`rtp-timeout`) through the flush. Nothing is ever sent back (`sendBack: "none"`, and the
 * in-memory socket drops what the session's RTCP would send): the caller hears nothing from us.
 *
 * A datagram from outside `allowFrom` is dropped and counted (`not-allowed`), one that is not RTP
 * version 2 with a full header is dropped and counted (`malformed`), neither ever starts a call;
 * RTCP on the port is ignored. A source refused by admission (draining, `ingress.maxStreams`, no
 * STT slot), or whose call has ended while it still sends, is counted once and its datagrams
 * dropped until it has been silent for `rtp.timeoutMs` (then it may start a new call).
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP, type BlockList } from 'node:net';
import { RtpSession, type SocketFactory } from '../../rtp/index.js';
import { parseAllowList } from '../call/Admission.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { plainAddress } from './AudioSocketServer.js';
import type { IngressCall, IngressDeps } from './IngressCall.js';
import type { IngressCalls } from './IngressCalls.js';

/** What each `format` of `externalMedia` is on the wire (RFC 3551 static payload types). */
const FORMATS = {
  ulaw: { codec: 'PCMU', payloadType: 0 },
  alaw: { codec: 'PCMA', payloadType: 8 },
} as const;

/** Datagrams kept while a source's session opens (a second of 20 ms packets). */
const MAX_PENDING = 50;
/** Ended or refused sources remembered (their datagrams dropped while they keep sending). */
const MAX_GONE = 10_000;
const RTP_HEADER = 12;

type Handler = (data: Uint8Array, from: { address: string; port: number }) => void;

/** One source (an `externalMedia` channel): its call, its session and its in-memory socket. */
interface Source {
  readonly remote: { address: string; port: number };
  readonly call: IngressCall;
  session: RtpSession | null;
  /** The session's RTP socket handler, once it is open. */
  deliver: Handler | null;
  /** Datagrams that came while the session was opening. */
  pending: Uint8Array[];
  lastAt: number;
}

/** RTP version 2 with at least a fixed header (RTCP, packet types 192–223, is told apart). */
function kindOf(d: Uint8Array): 'rtp' | 'rtcp' | 'bad' {
  if (d.length < RTP_HEADER || ((d[0] as number) & 0xc0) !== 0x80) {
    return 'bad';
  }
  const pt = d[1] as number;
  return pt >= 192 && pt <= 223 ? 'rtcp' : 'rtp';
}

export class RtpIngress {
  readonly #config: Config;
  readonly #calls: IngressCalls;
  readonly #deps: IngressDeps;
  readonly #log: Logger;
  readonly #allow: BlockList;
  readonly #sources = new Map<string, Source>();
  /** Sources refused or ended, by `address:port`: the time of their last datagram. */
  readonly #gone = new Map<string, number>();
  #socket: Socket | null = null;

  /** @throws ConfigError for a bad `ingress.rtp.allowFrom` entry. */
  constructor(deps: IngressDeps, calls: IngressCalls, log: Logger) {
    this.#config = deps.config;
    this.#deps = deps;
    this.#calls = calls;
    this.#log = log;
    this.#allow = parseAllowList(deps.config.ingress.rtp.allowFrom, 'ingress.rtp.allowFrom');
  }

  /** Binds `ingress.rtp` host and port. */
  async listen(): Promise<{ address: string; port: number }> {
    const { host, port } = this.#config.ingress.rtp;
    const socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', (err) => this.#log.warn({ err }, 'rtp ingress socket error'));
    socket.on('message', (msg, rinfo) => this.receive(msg, { address: rinfo.address, port: rinfo.port }));
    this.#socket = socket;
    const a = socket.address();
    return { address: a.address, port: a.port };
  }

  /** Sources with a call in progress. */
  get size(): number {
    return this.#sources.size;
  }

  /** One datagram from `from` (the socket's handler; tests call it directly). */
  receive(data: Uint8Array, from: { address: string; port: number }): void {
    const address = plainAddress(from.address);
    const family = isIP(address);
    if (family === 0 || !this.#allow.check(address, family === 4 ? 'ipv4' : 'ipv6')) {
      this.#calls.refused('rtp', 'not-allowed', { remote: `${address}:${from.port}` });
      return;
    }
    const key = `${address}:${from.port}`;
    const kind = kindOf(data);
    if (kind === 'bad') {
      this.#calls.refused('rtp', 'malformed', { remote: key, bytes: data.length });
      return;
    }
    const now = this.#deps.clock.now();
    const source = this.#sources.get(key);
    if (source) {
      source.lastAt = now;
      if (source.deliver) {
        source.deliver(data, { address, port: from.port });
      } else if (source.pending.length < MAX_PENDING) {
        source.pending.push(data);
      }
      return;
    }
    if (kind === 'rtcp') {
      return;
    }
    const gone = this.#gone.get(key);
    if (gone !== undefined && now - gone < this.#config.rtp.timeoutMs) {
      this.#gone.set(key, now);
      return;
    }
    this.#gone.delete(key);
    this.#begin(key, { address, port: from.port }, data, now);
  }

  #begin(key: string, remote: { address: string; port: number }, first: Uint8Array, now: number): void {
    const format = FORMATS[this.#config.ingress.rtp.format];
    if (((first[1] as number) & 0x7f) !== format.payloadType) {
      // Not the format sipscribe was told Asterisk sends: no call, rather than one of noise.
      this.#calls.refused('rtp', 'unsupported', {
        remote: key,
        payloadType: (first[1] as number) & 0x7f,
        expected: format.payloadType,
      });
      return;
    }
    const begun = this.#calls.begin(
      {
        ingress: 'rtp',
        key,
        from: `rtp:${key}`,
        to: 'rtp',
        remote: key,
        transport: 'udp',
        codec: `${format.codec}/8000`,
        // The session's output: 24 kHz frames, timed by its playout clock (one per 80 ms), which
        // is the one owner of the call's timing.
        rate: 24_000,
        channels: ['caller'],
        paced: true,
      },
      // UDP cannot be paused: what comes while the STT stream opens is kept up to stt.earlyAudioMs.
      { pause: () => undefined, resume: () => undefined },
    );
    if (typeof begun === 'string') {
      this.#forget(key, now);
      return;
    }
    const source: Source = {
      remote,
      call: begun,
      session: null,
      deliver: null,
      pending: [first],
      lastAt: now,
    };
    this.#sources.set(key, source);
    void begun.done.then(() => {
      source.session?.close();
      this.#sources.delete(key);
      this.#forget(key, source.lastAt);
    });
    void this.#open(source, format).catch((err: unknown) => {
      begun.log.error({ err }, 'rtp ingress: the session could not be opened: ending the call');
      void begun.end('error');
    });
  }

  async #open(source: Source, format: (typeof FORMATS)[keyof typeof FORMATS]): Promise<void> {
    const { call, remote } = source;
    const { rtp } = this.#config;
    const pcm = new Int16Array(1920);
    const session = await RtpSession.open(
      {
        host: this.#config.ingress.rtp.host,
        portMin: 2,
        portMax: 3,
        clock: this.#deps.clock,
        logger: call.log,
        jitter: rtp.jitter,
        timeoutMs: rtp.timeoutMs,
        sendBack: 'none',
        socketFactory: this.#memorySocket(source),
      },
      {
        onFrame: (frame) => {
          for (let i = 0; i < frame.length; i++) {
            pcm[i] = Math.max(-32768, Math.min(32767, Math.round((frame[i] as number) * 32768)));
          }
          call.push(0, pcm.subarray(0, frame.length));
        },
        onTimeout: () => {
          call.log.info({ timeoutMs: rtp.timeoutMs }, 'no RTP from the source: ending the call');
          void call.end('rtp-timeout');
        },
      },
    );
    if (!call.live) {
      session.close();
      return;
    }
    source.session = session;
    session.start({
      address: remote.address,
      port: remote.port,
      rtcpPort: remote.port,
      rtcpMux: true,
      codec: format.codec,
      payloadType: format.payloadType,
      ptime: 20,
      direction: 'sendrecv',
    });
    for (const d of source.pending.splice(0)) {
      source.deliver?.(d, remote);
    }
  }

  /** The session's sockets: RTP fed by `receive`, RTCP never; whatever it sends is dropped. */
  #memorySocket(source: Source): SocketFactory {
    let rtpBound = false;
    return {
      bind: (_host, port) => {
        const isRtp = !rtpBound;
        rtpBound = true;
        return Promise.resolve({
          localPort: port,
          send: () => undefined,
          onMessage: (handler: Handler) => {
            if (isRtp) {
              source.deliver = handler;
            }
          },
          onError: () => undefined,
          close: () => {
            if (isRtp) {
              source.deliver = null;
            }
          },
        });
      },
    };
  }

  /** Remembers a source refused or ended so that its next datagrams start no call. */
  #forget(key: string, lastAt: number): void {
    if (this.#gone.size >= MAX_GONE) {
      const oldest = this.#gone.keys().next().value;
      if (oldest !== undefined) {
        this.#gone.delete(oldest);
      }
    }
    this.#gone.set(key, lastAt);
  }

  /** Closes the socket (after `IngressCalls.shutdown` has ended the calls). */
  async close(): Promise<void> {
    for (const s of this.#sources.values()) {
      s.session?.close();
    }
    const socket = this.#socket;
    this.#socket = null;
    if (socket) {
      await new Promise<void>((r) => socket.close(() => r()));
    }
  }
}
