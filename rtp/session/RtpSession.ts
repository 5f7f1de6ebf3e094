import { systemClock, type Clock } from '../../lib/clock.js';
import type { AudioCodec } from '../codec/table.js';
import { RtpPortsExhaustedError, RtpSessionStateError } from '../errors.js';
import { G711Plc } from '../dsp/G711Plc.js';
import { JitterBuffer, type Concealer } from '../jitter/JitterBuffer.js';
import { RepeatedLog, silentLogger, type Logger } from '../../lib/logger.js';
import { readWavAtRate } from '../wav.js';
import { MediaPipeline } from './MediaPipeline.js';
import { MediaScheduler, type MediaTick } from './MediaScheduler.js';
import { RtcpReporter } from './RtcpReporter.js';
import { RtpReceiver } from './RtpReceiver.js';
import { RtpSender } from './RtpSender.js';
import { SessionSrtp } from './SessionSrtp.js';
import { SourceLatch } from './SourceLatch.js';
import { checkRemoteMedia } from './remoteMedia.js';
import { resolveOptions, type ResolvedOptions } from './options.js';
import { bindPortPair, type DatagramSocket, type RemoteInfo } from './socket.js';
import type { RemoteMedia, RtpSessionDelegate, RtpSessionOptions, RtpSessionStats } from './types.js';

export type { RemoteMedia, RtpSessionDelegate, RtpSessionStats } from './types.js';

type State = 'bound' | 'running' | 'closed';

const TICK_MS = 20;
/** How often a per-packet failure that keeps happening is logged again (with its count). */
const REPEAT_WINDOW_MS = 30_000;
/**
 * One call's media: an RTP/RTCP socket pair, source validation (RFC 3550 A.1) and symmetric-RTP
 * latching, the jitter buffer with PLC, DTMF (RFC 4733), comfort noise (RFC 3389), receiver/sender
 * reports (RFC 3550 §6.4), and G.711 sent back at ptime (silence unless audio is queued with
 * `play()`). Emits one 1920-sample 24 kHz frame per 80 ms of the clock (20 ms ticks), for the whole
 * call, whatever the network does: the session is the one owner of the call's media timing.
 */
export class RtpSession {
  /** Upward notifications (given to {@link RtpSession.open}); may be replaced at any time. */
  delegate: RtpSessionDelegate;
  readonly #o: ResolvedOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  /** Events that can repeat per packet: logged once, then counted and summarised. */
  readonly #repeat: RepeatedLog;
  readonly #rtp: DatagramSocket;
  readonly #rtcp: DatagramSocket;
  readonly #jb: JitterBuffer;
  readonly #pipeline: MediaPipeline;
  #state: State = 'bound';
  #remote: RemoteMedia | undefined;
  #codec: AudioCodec | undefined;
  readonly #latch: SourceLatch;
  readonly #receiver: RtpReceiver;
  readonly #srtp = new SessionSrtp();
  #startMs = 0;
  #ticks = 0;
  readonly #scheduler: MediaScheduler;
  /** This call's work at each tick of the shared {@link MediaScheduler}: playout, sending, timeout. */
  readonly #tick: MediaTick = (now) => this.#onTick(now);
  #lastRtpAt = 0;
  #timedOut = false;
  readonly #sender: RtpSender;
  readonly #reporter: RtcpReporter;
  #frames = 0;
  #rtcpSent = 0;

  private constructor(
    o: ResolvedOptions,
    clock: Clock,
    log: Logger,
    rtp: DatagramSocket,
    rtcp: DatagramSocket,
    concealer: Concealer,
    delegate: RtpSessionDelegate,
  ) {
    this.#o = o;
    this.#clock = clock;
    this.#log = log;
    this.#repeat = new RepeatedLog(log, clock, REPEAT_WINDOW_MS);
    this.#rtp = rtp;
    this.#rtcp = rtcp;
    this.delegate = delegate;
    this.#jb = new JitterBuffer({
      minDelayMs: o.jitter.minDelayMs,
      maxDelayMs: o.jitter.maxDelayMs,
      shrinkPercent: o.jitter.shrinkPercent,
      concealer,
    });
    this.#pipeline = new MediaPipeline(this.#jb, (frame, offsetMs) => {
      this.#frames++;
      this.delegate.onFrame?.(frame, offsetMs);
    });
    this.#latch = new SourceLatch(o.strictSource);
    this.#receiver = new RtpReceiver(
      log,
      this.#latch,
      this.#jb,
      o.comfortNoisePayloadType,
      { onDtmf: (ev) => this.delegate.onDtmf?.(ev) },
      this.#repeat,
      this.#srtp,
    );
    this.#scheduler = MediaScheduler.of(clock);
    this.#sender = new RtpSender(
      o.random,
      this.#repeat,
      (packet) => {
        const to = this.#latch.rtpTarget;
        this.#rtp.send(this.#srtp.protectRtp(packet), to.port, to.address);
      },
      o.sendBack,
      o.keepaliveMs,
    );
    this.#reporter = new RtcpReporter(clock, o.random, this.#repeat, {
      ssrc: this.#sender.ssrc,
      cname: o.cname,
      wallClockMs: o.wallClockMs,
      content: (now) => {
        const src = this.#receiver.source;
        return { sources: src ? 1 : 0, block: src?.validated ? src.report(now) : undefined };
      },
      sender: this.#sender,
      send: (bytes) => this.#sendRtcp(bytes),
    });
    rtp.onMessage((data, from) => this.#onRtpDatagram(data, from));
    rtcp.onMessage((data, from) => this.#onRtcpDatagram(data, from));
    const onError = (err: Error): void =>
      this.#repeat.log(
        'warn',
        'rtp-socket-error',
        () => ({ event: 'rtp-socket-error', err }),
        'rtp socket error',
      );
    rtp.onError(onError);
    rtcp.onError(onError);
  }

  /**
   * Binds a socket pair (even RTP port, RTCP on +1) from the range. Nothing is received until
   * {@link RtpSession.start}.
   * @throws {RtpConfigError} on an invalid port range
   * @throws {RtpPortsExhaustedError} when no pair in the range can be bound
   */
  static async open(options: RtpSessionOptions, delegate: RtpSessionDelegate = {}): Promise<RtpSession> {
    const clock = options.clock ?? systemClock;
    const o = resolveOptions(options, clock);
    let pair: [DatagramSocket, DatagramSocket];
    try {
      pair = await bindPortPair(o.socketFactory, o.host, o.portMin, o.portMax, o.random);
    } catch (err) {
      throw new RtpPortsExhaustedError(`no free RTP/RTCP port pair in ${o.portMin}–${o.portMax}`, {
        cause: err,
      });
    }
    try {
      const concealer = options.concealer?.() ?? defaultConcealer();
      return new RtpSession(o, clock, options.logger ?? silentLogger, pair[0], pair[1], concealer, delegate);
    } catch (err) {
      pair[0].close();
      pair[1].close();
      throw err;
    }
  }

  /** The bound RTP port (even); RTCP is on `localPort + 1` unless rtcp-mux is negotiated. */
  get localPort(): number {
    return this.#rtp.localPort;
  }

  /** The bound RTCP port. */
  get localRtcpPort(): number {
    return this.#rtcp.localPort;
  }

  /** Our SSRC on the sending side. */
  get ssrc(): number {
    return this.#sender.ssrc;
  }

  /** True while the remote holds the call (its direction is sendonly or inactive). */
  get onHold(): boolean {
    const d = this.#remote?.direction;
    return d === 'sendonly' || d === 'inactive';
  }

  /**
   * Starts the call's media: frames flow from now on, every 20 ms, for the whole call (call time 0
   * is now); RTP is sent at ptime when the direction allows it; RTCP reports start.
   * @throws {RtpSessionStateError} when already started or closed
   * @throws {RtpConfigError} on an unsupported codec
   */
  start(remote: RemoteMedia): void {
    if (this.#state !== 'bound') {
      throw new RtpSessionStateError(`start() in state ${this.#state}`);
    }
    this.#apply(remote);
    this.#state = 'running';
    this.#startMs = this.#scheduler.join(this.#tick);
    this.#lastRtpAt = this.#clock.now();
    this.#configureSender();
    this.#reporter.start();
    this.#log.info(
      {
        localPort: this.localPort,
        remote: `${remote.address}:${remote.port}`,
        codec: remote.codec,
        srtp: this.#srtp.suite ?? null,
      },
      'rtp session started',
    );
  }

  /**
   * Applies a new remote description (re-INVITE): address, codec, payload types, ptime, direction
   * (hold). A new address clears the symmetric-RTP latch.
   * @throws {RtpSessionStateError} when not started
   */
  update(remote: RemoteMedia): void {
    if (this.#state !== 'running') {
      throw new RtpSessionStateError(`update() in state ${this.#state}`);
    }
    const old = this.#remote;
    this.#apply(remote);
    if (old?.direction !== remote.direction) {
      this.#lastRtpAt = this.#clock.now();
      this.#timedOut = false;
    }
    this.#configureSender();
    this.#log.info(
      {
        remote: `${remote.address}:${remote.port}`,
        direction: remote.direction,
        srtp: this.#srtp.suite ?? null,
      },
      'rtp session updated',
    );
  }

  #apply(remote: RemoteMedia): void {
    const codec = checkRemoteMedia(remote);
    this.#srtp.configure(remote.srtp);
    this.#codec = codec;
    this.#remote = { ...remote };
    this.#latch.setRemote(this.#remote);
    this.#receiver.configure(this.#remote, codec);
  }

  /**
   * Queues 8 kHz 16-bit audio (e.g. a prompt read from a WAV) to send instead of silence; replaces
   * what was queued.
   */
  play(samples: Int16Array): void {
    this.#sender.play(samples);
  }

  /**
   * 8 kHz samples of the audio queued by `play` that went out in packets so far (a call that ends
   * early has sent less than it queued). Holds after `close()`.
   */
  get playedSamples(): number {
    return this.#sender.playedSamples;
  }

  /**
   * Queues a WAV file (any rate, mono or the first channel; PCM, float, μ-law or A-law) to send,
   * converted to 8 kHz.
   * @throws {WavError} when the bytes are not a supported WAV file
   */
  playWav(bytes: Uint8Array): void {
    const f = readWavAtRate(bytes, 8000);
    const pcm = new Int16Array(f.length);
    for (let i = 0; i < f.length; i++) {
      pcm[i] = Math.max(-32768, Math.min(32767, Math.round(f[i]! * 32768)));
    }
    this.play(pcm);
  }

  /** Stops ticking and sending, sends an RTCP BYE, releases both ports. Idempotent. */
  close(): void {
    if (this.#state === 'closed') {
      return;
    }
    const wasRunning = this.#state === 'running';
    this.#state = 'closed';
    this.#scheduler.leave(this.#tick);
    this.#sender.stop();
    this.#reporter.stop();
    try {
      this.#receiver.flush();
      if (wasRunning) {
        this.#reporter.sendNow(true);
      }
    } catch (err) {
      this.#log.warn({ err }, 'error while closing the rtp session');
    } finally {
      this.#rtp.close();
      this.#rtcp.close();
    }
    this.#repeat.flush();
    this.#log.info({ stats: this.getStats() }, 'rtp session closed');
  }

  /** Counters and gauges. */
  getStats(): RtpSessionStats {
    const jb = this.#jb.getStats();
    const rx = this.#receiver.counters;
    const src = this.#receiver.source;
    return {
      datagrams: rx.datagrams,
      received: rx.received,
      lost: jb.lost,
      late: jb.late,
      duplicated: jb.duplicated,
      reordered: jb.reordered,
      concealed: jb.concealedFrames,
      adjusted: jb.adjustedFrames,
      currentDelayMs: jb.currentDelayMs,
      targetDelayMs: jb.targetDelayMs,
      jitterMs: src ? src.jitter / 8 : 0,
      cumulativeLost: src ? Math.max(0, src.lost) : 0,
      malformed: { ...rx.malformed },
      srtp: this.#srtp.suite ?? null,
      srtpAuthFailed: rx.srtpAuthFailed,
      srtpReplayed: rx.srtpReplayed,
      rejectedSource: rx.rejectedSource,
      unknownPayloadType: rx.unknownPayloadType,
      invalidSequence: this.#receiver.invalidSequence,
      ssrcChanges: this.#receiver.ssrcChanges,
      dtmfEvents: rx.dtmfEvents,
      frames: this.#frames,
      packetsSent: this.#sender.packetsSent,
      rtcpSent: this.#rtcpSent,
      rtcpReceived: rx.rtcpReceived,
      onHold: this.onHold,
    };
  }

  // ---- receive path (RtpReceiver) ----------------------------------------------------------

  #onRtpDatagram(data: Uint8Array, from: RemoteInfo): void {
    try {
      if (this.#state !== 'running') {
        return;
      }
      const now = this.#clock.now();
      if (this.#receiver.receiveRtp(data, from, now)) {
        this.#lastRtpAt = now;
        this.#timedOut = false;
      }
    } catch (err) {
      this.#unexpected('rtp-receive-bug', 'unexpected error in the rtp receive path', err);
    }
  }

  #onRtcpDatagram(data: Uint8Array, from: RemoteInfo): void {
    try {
      if (this.#state !== 'running') {
        return;
      }
      this.#receiver.receiveRtcp(data, from, this.#clock.now());
    } catch (err) {
      this.#unexpected('rtcp-receive-bug', 'unexpected error in the rtcp receive path', err);
    }
  }

  /** A bug in a per-packet path: logged once with its stack, then counted like any repeated event. */
  #unexpected(key: string, msg: string, err: unknown): void {
    this.#repeat.log('error', key, () => ({ event: key, err }), msg);
  }

  // ---- output cadence -------------------------------------------------------------------------

  #onTick(now: number): void {
    if (this.#state !== 'running') {
      return;
    }
    try {
      // Catch up if the event loop was late: exactly one 20 ms of output per 20 ms of call time.
      while (this.#startMs + (this.#ticks + 1) * TICK_MS <= now) {
        this.#ticks++;
        this.#pipeline.tick(this.#startMs + this.#ticks * TICK_MS);
        if (this.#state !== 'running') {
          return;
        }
      }
      const remote = this.#remote!;
      if (
        this.#o.timeoutMs > 0 &&
        !this.#timedOut &&
        remote.direction === 'sendrecv' &&
        now - this.#lastRtpAt >= this.#o.timeoutMs
      ) {
        this.#timedOut = true;
        this.#log.info({ timeoutMs: this.#o.timeoutMs }, 'rtp timeout');
        this.delegate.onTimeout?.();
        if (this.#state !== 'running') {
          return;
        }
      }
    } catch (err) {
      this.#unexpected('rtp-output-bug', 'unexpected error in the rtp output path', err);
    }
    this.#sender.poll(now);
  }

  // ---- send path and RTCP ---------------------------------------------------------------------

  /** Starts, restarts (new ptime/codec) or stops sending according to the remote's direction. */
  #configureSender(): void {
    const remote = this.#remote!;
    if (remote.direction === 'sendrecv' || remote.direction === 'recvonly') {
      const now = this.#clock.now();
      this.#sender.configure(this.#codec!, remote.payloadType, remote.ptime, this.#scheduler.align(now));
    } else {
      this.#sender.stop();
    }
  }

  #sendRtcp(bytes: Uint8Array): void {
    if (!this.#remote) {
      return;
    }
    const to = this.#latch.rtcpTarget;
    (this.#remote.rtcpMux ? this.#rtp : this.#rtcp).send(this.#srtp.protectRtcp(bytes), to.port, to.address);
    this.#rtcpSent++;
  }
}

function defaultConcealer(): Concealer {
  return new G711Plc();
}
