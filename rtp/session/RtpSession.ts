import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { codecByName, type AudioCodec } from '../codec/table.js';
import { RtpConfigError, RtpError, RtpPortsExhaustedError, RtpSessionStateError } from '../errors.js';
import { G711Plc } from '../dsp/G711Plc.js';
import { JitterBuffer, type Concealer } from '../jitter/JitterBuffer.js';
import { nullLogger, type Logger } from '../logger.js';
import { readWavAtRate } from '../wav.js';
import { RtpPacket } from '../packet/RtpPacket.js';
import { buildRtcpReport, isRtcp, parseRtcp, rtcpIntervalMs } from '../packet/rtcp.js';
import { seqAdd, seqDiff, tsAdd } from '../seq.js';
import { DtmfReceiver, type DtmfEvent } from './DtmfReceiver.js';
import { MediaPipeline } from './MediaPipeline.js';
import { SourceState } from './SourceState.js';
import {
  bindPortPair,
  udpSocketFactory,
  type DatagramSocket,
  type RemoteInfo,
  type SocketFactory,
} from './socket.js';

/**
 * The remote media description, as the SIP layer produces it from the SDP (field names are the
 * contract between sip/, src/ and rtp/). `direction` is the remote's SDP direction attribute.
 */
export interface RemoteMedia {
  address: string;
  port: number;
  rtcpPort: number;
  rtcpMux: boolean;
  codec: 'PCMU' | 'PCMA';
  payloadType: number;
  telephoneEventPayloadType?: number;
  ptime: number;
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
}

/** Upward notifications of a session (all optional). */
export interface RtpSessionDelegate {
  /**
   * One 80 ms frame: 1920 float32 samples at 24 kHz in [-1, 1], and its offset in ms of call time
   * since `start()`. The buffer is reused after the call returns: copy or serialise it first.
   */
  onFrame?(frame: Float32Array, offsetMs: number): void;
  /** A DTMF digit (RFC 4733), reported once per event at its end. */
  onDtmf?(event: DtmfEvent): void;
  /** No RTP for `timeoutMs` while the remote was expected to send (`sendrecv`). Fires once per silence. */
  onTimeout?(): void;
}

export interface RtpSessionOptions {
  /** Local address to bind (e.g. '0.0.0.0' or '127.0.0.1'). */
  host: string;
  /** Port range: an even RTP port and RTCP on the next one are taken from it. */
  portMin: number;
  portMax: number;
  clock?: Clock;
  logger?: Logger;
  jitter?: { minDelayMs?: number; maxDelayMs?: number };
  /** Inactivity time in ms before `onTimeout` (0 disables). Default 30000. */
  timeoutMs?: number;
  /** Accept RTP only from the SDP address and port (no symmetric-RTP latching). Default false. */
  strictSource?: boolean;
  /** Socket factory (in-memory in unit tests). Default: node:dgram. */
  socketFactory?: SocketFactory;
  /** PLC per session. Default: `G711Plc` (ITU-T G.711 Appendix I). `() => silenceConcealer` disables it. */
  concealer?: () => Concealer;
  /** RTCP CNAME. Default `sipscribe@<host>`. */
  cname?: string;
  /** Randomness (SSRC, initial seq/ts, port choice, RTCP interval). Default Math.random. */
  random?: () => number;
  /** Wall clock in ms since 1970 for RTCP SR NTP timestamps. Default Date.now. */
  wallClockMs?: () => number;
  /** Payload type of comfort noise (RFC 3389). Default 13. */
  comfortNoisePayloadType?: number;
}

/** Counters and gauges of one session. */
export interface RtpSessionStats {
  /** Datagrams received on the RTP socket (RTCP on a muxed socket excluded). */
  datagrams: number;
  /** RTP packets delivered to the jitter buffer or the DTMF receiver. */
  received: number;
  /** Packets never played (sequence gaps). */
  lost: number;
  late: number;
  duplicated: number;
  reordered: number;
  /** 20 ms output frames containing concealed audio. */
  concealed: number;
  /** 20 ms output frames played faster or slower (or stretched by a block) to steer the delay. */
  adjusted: number;
  /** Current / target jitter buffer delay in ms. */
  currentDelayMs: number;
  targetDelayMs: number;
  /** RFC 3550 A.8 interarrival jitter of the current source, in ms. */
  jitterMs: number;
  /** RFC 3550 A.3 cumulative loss of the current source. */
  cumulativeLost: number;
  /** Malformed datagrams dropped, by error code. */
  malformed: Record<string, number>;
  /** Datagrams dropped because they came from another address than the (latched) source. */
  rejectedSource: number;
  /** Packets with a payload type that was not negotiated. */
  unknownPayloadType: number;
  /** Packets dropped by RFC 3550 A.1 validation (large jumps, probation restarts). */
  invalidSequence: number;
  /** SSRC changes. */
  ssrcChanges: number;
  dtmfEvents: number;
  /** 80 ms frames delivered to `onFrame`. */
  frames: number;
  packetsSent: number;
  rtcpSent: number;
  rtcpReceived: number;
  /** The remote put the call on hold (sendonly/inactive). */
  onHold: boolean;
}

type State = 'bound' | 'running' | 'closed';

/** Options with their defaults resolved (in one place: {@link RtpSession.open}). */
type ResolvedOptions = Required<Omit<RtpSessionOptions, 'jitter' | 'logger' | 'clock' | 'concealer'>> & {
  jitter: { minDelayMs: number; maxDelayMs: number };
};

const TICK_MS = 20;
/** Packet buffers reused in turn by the sender. */
const SEND_RING = 8;

/** Writes a 12-byte RTP header (V=2, no padding/extension/CSRC) at the start of `b`. */
function writeRtpHeader(
  b: Uint8Array,
  pt: number,
  marker: boolean,
  seq: number,
  ts: number,
  ssrc: number,
): void {
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | (pt & 0x7f);
  b[2] = (seq >>> 8) & 0xff;
  b[3] = seq & 0xff;
  b[4] = ts >>> 24;
  b[5] = (ts >>> 16) & 0xff;
  b[6] = (ts >>> 8) & 0xff;
  b[7] = ts & 0xff;
  b[8] = ssrc >>> 24;
  b[9] = (ssrc >>> 16) & 0xff;
  b[10] = (ssrc >>> 8) & 0xff;
  b[11] = ssrc & 0xff;
}

/**
 * One call's media: an RTP/RTCP socket pair, source validation (RFC 3550 A.1) and symmetric-RTP
 * latching, the jitter buffer with PLC, DTMF (RFC 4733), comfort noise (RFC 3389), receiver/sender
 * reports (RFC 3550 §6.4), and G.711 sent back at ptime (silence unless audio is queued with
 * `play()`). Emits 1920-sample 24 kHz frames on a steady 20 ms cadence from the clock, for the whole
 * call, whatever the network does.
 */
export class RtpSession {
  /** Called by `open`; use {@link RtpSession.open}. */
  delegate: RtpSessionDelegate;
  readonly #o: ResolvedOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #rtp: DatagramSocket;
  readonly #rtcp: DatagramSocket;
  readonly #jb: JitterBuffer;
  readonly #pipeline: MediaPipeline;
  readonly #dtmf = new DtmfReceiver();
  #state: State = 'bound';
  #remote: RemoteMedia | undefined;
  #codec: AudioCodec | undefined;
  #latched: RemoteInfo | undefined;
  #latchedRtcp: RemoteInfo | undefined;
  #source: SourceState | undefined;
  #previousSsrc = -1;
  /** Packets received while the source was on probation (A.1), delivered once it is validated. */
  readonly #held: { pkt: RtpPacket; at: number }[] = [];
  #startMs = 0;
  #ticks = 0;
  #tickTimer: TimerHandle | undefined;
  #sendTimer: TimerHandle | undefined;
  #rtcpTimer: TimerHandle | undefined;
  #lastRtpAt = 0;
  #timedOut = false;
  // Sending state.
  readonly #ssrc: number;
  #sendSeq: number;
  #sendTs: number;
  #sendStartMs = 0;
  #sent = 0;
  #sentOctets = 0;
  #sentSinceReport = false;
  #firstSend = true;
  #prompt: Int16Array | undefined;
  #promptPos = 0;
  readonly #pcmOut = new Int16Array(480);
  readonly #sendRing: Uint8Array[] = [];
  #sendSlot = 0;
  #rtcpInitial = true;
  readonly #stats = {
    datagrams: 0,
    received: 0,
    malformed: {} as Record<string, number>,
    rejectedSource: 0,
    unknownPayloadType: 0,
    invalidSequence: 0,
    ssrcChanges: 0,
    dtmfEvents: 0,
    frames: 0,
    rtcpSent: 0,
    rtcpReceived: 0,
  };

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
    this.#rtp = rtp;
    this.#rtcp = rtcp;
    this.delegate = delegate;
    this.#jb = new JitterBuffer({
      minDelayMs: o.jitter.minDelayMs,
      maxDelayMs: o.jitter.maxDelayMs,
      concealer,
    });
    this.#pipeline = new MediaPipeline(this.#jb, (frame, offsetMs) => {
      this.#stats.frames++;
      this.delegate.onFrame?.(frame, offsetMs);
    });
    this.#ssrc = Math.floor(o.random() * 0x100000000) >>> 0;
    this.#sendSeq = Math.floor(o.random() * 0x10000);
    this.#sendTs = Math.floor(o.random() * 0x100000000) >>> 0;
    rtp.onMessage((data, from) => this.#onRtpDatagram(data, from));
    rtcp.onMessage((data, from) => this.#onRtcpDatagram(data, from));
    const onError = (err: Error): void => this.#log.warn({ err }, 'rtp socket error');
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
    if (
      !Number.isInteger(options.portMin) ||
      !Number.isInteger(options.portMax) ||
      options.portMin < 1 ||
      options.portMax > 65535 ||
      options.portMax - options.portMin < 1
    ) {
      throw new RtpConfigError(`invalid RTP port range ${options.portMin}–${options.portMax}`);
    }
    const o = {
      host: options.host,
      portMin: options.portMin,
      portMax: options.portMax,
      jitter: { minDelayMs: options.jitter?.minDelayMs ?? 20, maxDelayMs: options.jitter?.maxDelayMs ?? 200 },
      timeoutMs: options.timeoutMs ?? 30_000,
      strictSource: options.strictSource ?? false,
      socketFactory: options.socketFactory ?? udpSocketFactory,
      cname: options.cname ?? `sipscribe@${options.host}`,
      random: options.random ?? Math.random,
      wallClockMs: options.wallClockMs ?? (() => Date.now()),
      comfortNoisePayloadType: options.comfortNoisePayloadType ?? 13,
    };
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
      return new RtpSession(
        o,
        options.clock ?? systemClock,
        options.logger ?? nullLogger,
        pair[0],
        pair[1],
        concealer,
        delegate,
      );
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
    return this.#ssrc;
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
    this.#startMs = this.#clock.now();
    this.#lastRtpAt = this.#startMs;
    this.#scheduleTick();
    this.#startSending();
    this.#scheduleRtcp();
    this.#log.info(
      { localPort: this.localPort, remote: `${remote.address}:${remote.port}`, codec: remote.codec },
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
    if (old && (old.address !== remote.address || old.port !== remote.port)) {
      this.#latched = undefined;
      this.#latchedRtcp = undefined;
    }
    if (old?.direction !== remote.direction) {
      this.#lastRtpAt = this.#clock.now();
      this.#timedOut = false;
    }
    if (old?.ptime !== remote.ptime || sends(old) !== sends(remote)) {
      this.#stopSending();
      this.#startSending();
    }
    this.#log.info(
      { remote: `${remote.address}:${remote.port}`, direction: remote.direction },
      'rtp session updated',
    );
  }

  #apply(remote: RemoteMedia): void {
    const codec = codecByName(remote.codec);
    if (!codec) {
      throw new RtpConfigError(`unsupported codec ${String(remote.codec)}`);
    }
    if (!(remote.ptime > 0 && remote.ptime <= 120)) {
      throw new RtpConfigError(`unsupported ptime ${remote.ptime}`);
    }
    this.#codec = codec;
    this.#remote = { ...remote };
  }

  /**
   * Queues 8 kHz 16-bit audio (e.g. a prompt read from a WAV) to send instead of silence; replaces
   * what was queued.
   */
  play(samples: Int16Array): void {
    this.#prompt = samples;
    this.#promptPos = 0;
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
    for (const t of [this.#tickTimer, this.#sendTimer, this.#rtcpTimer]) {
      if (t !== undefined) {
        this.#clock.clearTimeout(t);
      }
    }
    this.#tickTimer = this.#sendTimer = this.#rtcpTimer = undefined;
    try {
      const ev = this.#dtmf.flush();
      if (ev) {
        this.#emitDtmf(ev);
      }
      if (wasRunning) {
        this.#sendRtcp(true);
      }
    } catch (err) {
      this.#log.warn({ err }, 'error while closing the rtp session');
    } finally {
      this.#rtp.close();
      this.#rtcp.close();
    }
    this.#log.info({ stats: this.getStats() }, 'rtp session closed');
  }

  /** Counters and gauges. */
  getStats(): RtpSessionStats {
    const jb = this.#jb.getStats();
    const src = this.#source;
    return {
      datagrams: this.#stats.datagrams,
      received: this.#stats.received,
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
      malformed: { ...this.#stats.malformed },
      rejectedSource: this.#stats.rejectedSource,
      unknownPayloadType: this.#stats.unknownPayloadType,
      invalidSequence: this.#stats.invalidSequence,
      ssrcChanges: this.#stats.ssrcChanges,
      dtmfEvents: this.#stats.dtmfEvents,
      frames: this.#stats.frames,
      packetsSent: this.#sent,
      rtcpSent: this.#stats.rtcpSent,
      rtcpReceived: this.#stats.rtcpReceived,
      onHold: this.onHold,
    };
  }

  // ---- receive path -------------------------------------------------------------------------

  #onRtpDatagram(data: Uint8Array, from: RemoteInfo): void {
    try {
      const remote = this.#remote;
      if (this.#state !== 'running' || !remote) {
        return;
      }
      if (remote.rtcpMux && isRtcp(data)) {
        this.#handleRtcp(data, from);
        return;
      }
      this.#stats.datagrams++;
      if (!this.#acceptSource(from, remote)) {
        return;
      }
      let pkt: RtpPacket;
      try {
        pkt = new RtpPacket(data);
      } catch (err) {
        this.#malformed(err, from);
        return;
      }
      const pt = pkt.payloadType;
      if (
        pt !== remote.payloadType &&
        pt !== remote.telephoneEventPayloadType &&
        pt !== this.#o.comfortNoisePayloadType
      ) {
        this.#stats.unknownPayloadType++;
        return;
      }
      if (!this.#latched) {
        this.#latched = { address: from.address, port: from.port };
        this.#log.debug({ source: `${from.address}:${from.port}` }, 'rtp source latched');
      }
      this.#receive(pkt, this.#clock.now());
    } catch (err) {
      this.#log.error({ err }, 'unexpected error in the rtp receive path');
    }
  }

  #acceptSource(from: RemoteInfo, remote: RemoteMedia): boolean {
    const want = this.#o.strictSource ? { address: remote.address, port: remote.port } : this.#latched;
    if (want && (want.address !== from.address || want.port !== from.port)) {
      this.#stats.rejectedSource++;
      return false;
    }
    return true;
  }

  #malformed(err: unknown, from: RemoteInfo): void {
    const code = err instanceof RtpError ? err.code : 'UNKNOWN';
    this.#stats.malformed[code] = (this.#stats.malformed[code] ?? 0) + 1;
    this.#log.debug({ code, source: `${from.address}:${from.port}` }, 'malformed datagram dropped');
  }

  #receive(pkt: RtpPacket, now: number): void {
    let src = this.#source;
    if (!src || pkt.ssrc !== src.ssrc) {
      if (pkt.ssrc === this.#previousSsrc) {
        // A straggler of the previous source after a change: too late to be useful.
        this.#stats.invalidSequence++;
        return;
      }
      if (src) {
        this.#previousSsrc = src.ssrc;
        this.#stats.ssrcChanges++;
        this.#jb.newSource();
        this.#log.debug({ from: src.ssrc, to: pkt.ssrc }, 'rtp ssrc changed');
      }
      // A new SSRC from the latched address of a validated source is taken at once (no probation),
      // so the switch does not cost a packet; the very first source goes through A.1 probation.
      src = new SourceState(pkt.ssrc, pkt.sequenceNumber, 8000, src?.validated ? 0 : undefined);
      this.#source = src;
      this.#held.length = 0;
    }
    this.#lastRtpAt = now;
    this.#timedOut = false;
    switch (src.update(pkt.sequenceNumber)) {
      case 'probation':
        // Reordering during probation restarts it; keep the last few packets rather than one.
        if (this.#held.length >= 4) {
          this.#held.shift();
        }
        this.#held.push({ pkt, at: now });
        return;
      case 'bad':
        this.#stats.invalidSequence++;
        return;
      case 'restart':
        this.#jb.newSource();
        this.#deliver(pkt, now);
        return;
      case 'valid': {
        for (const held of this.#held) {
          // Packets close behind the validating one belong to the stream (the jitter buffer orders them).
          const d = seqDiff(held.pkt.sequenceNumber, pkt.sequenceNumber);
          if (d > 0 && d <= 8) {
            src.countHeld();
            this.#deliver(held.pkt, held.at);
          }
        }
        this.#held.length = 0;
        this.#deliver(pkt, now);
        return;
      }
    }
  }

  #deliver(pkt: RtpPacket, at: number): void {
    const remote = this.#remote!;
    this.#stats.received++;
    this.#source?.updateJitter(pkt.timestamp, at);
    const pt = pkt.payloadType;
    if (pt === remote.payloadType) {
      this.#jb.push(pkt.sequenceNumber, pkt.timestamp, pkt.payload, at, this.#codec!.decode);
    } else if (pt === remote.telephoneEventPayloadType) {
      for (const ev of this.#dtmf.push(pkt.timestamp, pkt.payload)) {
        this.#emitDtmf(ev);
      }
      // Kept out of the audio: the event's span is silence in the timeline, not loss.
      const duration = pkt.payload.byteLength >= 4 ? (pkt.payload[2]! << 8) | pkt.payload[3]! : 0;
      this.#jb.push(pkt.sequenceNumber, tsAdd(pkt.timestamp, duration), pkt.payload, at, null);
    } else {
      // RFC 3389 comfort noise: silence until the next audio packet.
      this.#jb.push(pkt.sequenceNumber, pkt.timestamp, pkt.payload, at, null);
    }
  }

  #emitDtmf(ev: DtmfEvent): void {
    this.#stats.dtmfEvents++;
    this.#log.debug({ digit: ev.digit, durationMs: ev.durationMs }, 'dtmf');
    this.delegate.onDtmf?.(ev);
  }

  // ---- output cadence -------------------------------------------------------------------------

  #scheduleTick(): void {
    const due = this.#startMs + (this.#ticks + 1) * TICK_MS;
    this.#tickTimer = this.#clock.setTimeout(() => this.#onTick(), Math.max(0, due - this.#clock.now()));
  }

  #onTick(): void {
    if (this.#state !== 'running') {
      return;
    }
    try {
      const now = this.#clock.now();
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
      }
    } catch (err) {
      this.#log.error({ err }, 'unexpected error in the rtp output path');
    }
    if (this.#state === 'running') {
      this.#scheduleTick();
    }
  }

  // ---- send path ------------------------------------------------------------------------------

  #startSending(): void {
    if (!sends(this.#remote)) {
      return;
    }
    this.#sendStartMs = this.#clock.now();
    let k = 0;
    const ptime = this.#remote!.ptime;
    const next = (): void => {
      k++;
      const due = this.#sendStartMs + k * ptime;
      this.#sendTimer = this.#clock.setTimeout(
        () => {
          if (this.#state !== 'running') {
            return;
          }
          try {
            this.#sendPacket();
          } catch (err) {
            this.#log.warn({ err }, 'error sending rtp');
          }
          next();
        },
        Math.max(0, due - this.#clock.now()),
      );
    };
    this.#sendPacket();
    next();
  }

  #stopSending(): void {
    if (this.#sendTimer !== undefined) {
      this.#clock.clearTimeout(this.#sendTimer);
      this.#sendTimer = undefined;
    }
  }

  #sendPacket(): void {
    const remote = this.#remote!;
    const codec = this.#codec!;
    const samples = Math.round((remote.ptime * codec.clockRate) / 1000);
    // A ring of packet buffers, reused: a datagram is handed to the kernel long before its buffer
    // comes round again (8 × ptime later), so nothing is allocated per packet.
    let packet = this.#sendRing[this.#sendSlot];
    if (packet?.byteLength !== 12 + samples) {
      packet = new Uint8Array(12 + samples);
      this.#sendRing[this.#sendSlot] = packet;
    }
    this.#sendSlot = (this.#sendSlot + 1) % SEND_RING;
    const payload = packet.subarray(12);
    const prompt = this.#prompt;
    let n = 0;
    if (prompt && this.#promptPos < prompt.length) {
      n = Math.min(samples, prompt.length - this.#promptPos);
      const pcm = this.#pcmOut.length >= n ? this.#pcmOut.subarray(0, n) : new Int16Array(n);
      pcm.set(prompt.subarray(this.#promptPos, this.#promptPos + n));
      codec.encode(pcm, payload);
      this.#promptPos += n;
    }
    payload.fill(codec.silenceByte, n);
    writeRtpHeader(packet, remote.payloadType, this.#firstSend, this.#sendSeq, this.#sendTs, this.#ssrc);
    this.#firstSend = false;
    this.#sendSeq = seqAdd(this.#sendSeq, 1);
    this.#sendTs = tsAdd(this.#sendTs, samples);
    const to = this.#latched ?? { address: remote.address, port: remote.port };
    this.#rtp.send(packet, to.port, to.address);
    this.#sent++;
    this.#sentOctets += samples;
    this.#sentSinceReport = true;
  }

  // ---- RTCP -----------------------------------------------------------------------------------

  #scheduleRtcp(): void {
    // G.711: 64 kbit/s of payload; RTCP gets 5 % of the session bandwidth (RFC 3550 §6.2).
    const rtcpBw = (0.05 * 64000) / 8;
    const interval = rtcpIntervalMs(
      2,
      (this.#source ? 1 : 0) + (this.#sentSinceReport ? 1 : 0),
      rtcpBw,
      this.#sentSinceReport,
      100,
      this.#rtcpInitial,
      this.#o.random(),
    );
    this.#rtcpInitial = false;
    this.#rtcpTimer = this.#clock.setTimeout(() => {
      if (this.#state !== 'running') {
        return;
      }
      try {
        this.#sendRtcp(false);
      } catch (err) {
        this.#log.warn({ err }, 'error sending rtcp');
      }
      this.#scheduleRtcp();
    }, interval);
  }

  #sendRtcp(bye: boolean): void {
    const remote = this.#remote;
    if (!remote) {
      return;
    }
    const now = this.#clock.now();
    const src = this.#source;
    const wall = this.#o.wallClockMs();
    const sender = this.#sentSinceReport
      ? {
          ntpSec: (Math.floor(wall / 1000) + 2208988800) >>> 0,
          ntpFrac: Math.floor(((wall % 1000) / 1000) * 0x100000000) >>> 0,
          rtpTimestamp: tsAdd(this.#sendTs, 0),
          packetCount: this.#sent >>> 0,
          octetCount: this.#sentOctets >>> 0,
        }
      : undefined;
    this.#sentSinceReport = false;
    const bytes = buildRtcpReport({
      ssrc: this.#ssrc,
      ...(sender ? { sender } : {}),
      reports: src?.validated ? [src.report(now)] : [],
      cname: this.#o.cname,
      ...(bye ? { bye: {} } : {}),
    });
    if (remote.rtcpMux) {
      const to = this.#latched ?? { address: remote.address, port: remote.port };
      this.#rtp.send(bytes, to.port, to.address);
    } else {
      const to = this.#latchedRtcp ?? { address: remote.address, port: remote.rtcpPort };
      this.#rtcp.send(bytes, to.port, to.address);
    }
    this.#stats.rtcpSent++;
  }

  #onRtcpDatagram(data: Uint8Array, from: RemoteInfo): void {
    try {
      if (this.#state !== 'running' || !this.#remote) {
        return;
      }
      this.#handleRtcp(data, from);
    } catch (err) {
      this.#log.error({ err }, 'unexpected error in the rtcp receive path');
    }
  }

  #handleRtcp(data: Uint8Array, from: RemoteInfo): void {
    const remote = this.#remote!;
    if (this.#o.strictSource && from.address !== remote.address) {
      this.#stats.rejectedSource++;
      return;
    }
    let packets;
    try {
      packets = parseRtcp(data);
    } catch (err) {
      this.#malformed(err, from);
      return;
    }
    this.#stats.rtcpReceived++;
    if (!remote.rtcpMux) {
      this.#latchedRtcp ??= { address: from.address, port: from.port };
    }
    for (const p of packets) {
      if (p.type === 'sr' && this.#source && p.ssrc === this.#source.ssrc) {
        this.#source.onSenderReport(p.ntpSec, p.ntpFrac, this.#clock.now());
      } else if (p.type === 'bye') {
        this.#log.debug({ ssrcs: p.ssrcs, reason: p.reason }, 'rtcp bye');
      }
    }
  }
}

function sends(remote: RemoteMedia | undefined): boolean {
  return remote?.direction === 'sendrecv' || remote?.direction === 'recvonly';
}

function defaultConcealer(): Concealer {
  return new G711Plc();
}
