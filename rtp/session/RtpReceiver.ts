import type { AudioCodec } from '../codec/table.js';
import { RtpError, SrtpError } from '../errors.js';
import type { JitterBuffer } from '../jitter/JitterBuffer.js';
import { RtpPacket } from '../packet/RtpPacket.js';
import { isRtcp, parseRtcp } from '../packet/rtcp.js';
import { tsAdd } from '../seq.js';
import { DtmfReceiver, type DtmfEvent } from './DtmfReceiver.js';
import type { RepeatedLog } from '../../lib/logger.js';
import { type Logger } from '../../lib/logger.js';
import { SessionSrtp } from './SessionSrtp.js';
import type { SourceLatch } from './SourceLatch.js';
import type { SourceState } from './SourceState.js';
import { SourceTracker } from './SourceTracker.js';
import type { RemoteInfo } from './socket.js';
import type { RemoteMedia } from './types.js';

/** What the receiver needs from its session. */
interface RtpReceiverHooks {
  /** A DTMF digit ended (RFC 4733). */
  onDtmf(event: DtmfEvent): void;
}

/** Counters of the receive path (the session's stats of the same names). */
interface RtpReceiverCounters {
  datagrams: number;
  received: number;
  malformed: Record<string, number>;
  rejectedSource: number;
  unknownPayloadType: number;
  dtmfEvents: number;
  rtcpReceived: number;
  /** Of those, reduced-size RTCP (RFC 5506): not starting with SR or RR, e.g. an APP alone. */
  rtcpReducedSize: number;
  srtpAuthFailed: number;
  srtpReplayed: number;
}

/**
 * A session's receive path, from datagram to jitter buffer: RTCP demultiplexing with rtcp-mux
 * (RFC 5761 §4), the source check ({@link SourceLatch}), SRTP/SRTCP authentication and decryption
 * ({@link SessionSrtp}: a packet that fails is dropped and counted before anything reads it), parsing, the negotiated payload types,
 * RFC 3550 A.1 validation and SSRC changes ({@link SourceTracker}), then per payload type: audio
 * decoded into the jitter buffer, telephone events (RFC 4733) to the {@link DtmfReceiver} with their
 * span kept as silence in the timeline, comfort noise (RFC 3389) as silence. Received RTCP: sender
 * reports of the current source (for LSR/DLSR), BYE logged; reduced-size RTCP (RFC 5506) accepted and
 * counted.
 *
 * Never throws on bad input: dropped datagrams are counted (by error code when malformed) and
 * logged through the session's {@link RepeatedLog}: the first of each kind with its details, then
 * one line with a count per window, never one line per packet. Time comes in as arguments (`nowMs`), so it is tested without a clock.
 */
export class RtpReceiver {
  readonly #log: Logger;
  readonly #repeat: RepeatedLog;
  readonly #latch: SourceLatch;
  readonly #jb: JitterBuffer;
  readonly #cnPayloadType: number;
  readonly #h: RtpReceiverHooks;
  readonly #tracker: SourceTracker;
  readonly #srtp: SessionSrtp;
  readonly #dtmf = new DtmfReceiver();
  /** Every datagram is parsed into this one object (nothing downstream keeps it, see SourceTracker). */
  readonly #pkt = new RtpPacket();
  #remote: RemoteMedia | undefined;
  #codec: AudioCodec | undefined;
  readonly counters: RtpReceiverCounters = {
    datagrams: 0,
    received: 0,
    malformed: {},
    rejectedSource: 0,
    unknownPayloadType: 0,
    dtmfEvents: 0,
    rtcpReceived: 0,
    rtcpReducedSize: 0,
    srtpAuthFailed: 0,
    srtpReplayed: 0,
  };

  /**
   * @param latch the session's symmetric-RTP state (this receiver latches the sources it accepts)
   * @param jb where received audio, telephone-event spans and comfort noise go
   * @param comfortNoisePayloadType the CN payload type (RFC 3389; 13 by default in the session)
   * @param repeat where repeated drops are logged (the session's, flushed when it closes)
   * @param srtp the session's SRTP state (a pass-through for plain RTP)
   */
  constructor(
    log: Logger,
    latch: SourceLatch,
    jb: JitterBuffer,
    comfortNoisePayloadType: number,
    hooks: RtpReceiverHooks,
    repeat: RepeatedLog,
    srtp: SessionSrtp = new SessionSrtp(),
  ) {
    this.#log = log;
    this.#srtp = srtp;
    this.#repeat = repeat;
    this.#latch = latch;
    this.#jb = jb;
    this.#cnPayloadType = comfortNoisePayloadType;
    this.#h = hooks;
    this.#tracker = new SourceTracker(log, {
      deliver: (pkt, at) => this.#deliver(pkt, at),
      newSource: () => jb.newSource(),
    });
  }

  /** Takes the negotiated payload types and codec (start or re-INVITE); nothing is received before. */
  configure(remote: RemoteMedia, codec: AudioCodec): void {
    this.#remote = remote;
    this.#codec = codec;
    this.#tracker.setClockRate(codec.clockRate);
  }

  /** The current source's reception state (RTCP report blocks, stats). */
  get source(): SourceState | undefined {
    return this.#tracker.source;
  }

  /** Packets dropped by RFC 3550 A.1 validation or as stragglers of a previous SSRC. */
  get invalidSequence(): number {
    return this.#tracker.invalid;
  }

  /** SSRC changes seen. */
  get ssrcChanges(): number {
    return this.#tracker.changes;
  }

  /**
   * One datagram from the RTP socket.
   * @returns true when it was an RTP packet of a negotiated payload type from an accepted source
   *   (the remote is sending: the session's inactivity timer restarts)
   */
  receiveRtp(data: Uint8Array, from: RemoteInfo, nowMs: number): boolean {
    const remote = this.#remote;
    if (!remote) {
      return false;
    }
    if (remote.rtcpMux && isRtcp(data)) {
      this.receiveRtcp(data, from, nowMs);
      return false;
    }
    this.counters.datagrams++;
    const verdict = this.#latch.checkRtp(from);
    if (verdict === 'reject') {
      this.#rejected(from);
      return false;
    }
    const plain = this.#unprotect(data, from, nowMs, false);
    if (!plain) {
      return false;
    }
    let pkt: RtpPacket | undefined;
    try {
      pkt = this.#pkt.parse(plain);
    } catch (err) {
      pkt = undefined;
      if (verdict === 'accept') {
        this.#malformed(err, from);
        return false;
      }
    }
    const pt = pkt?.payloadType;
    const negotiated =
      pt !== undefined &&
      (pt === remote.payloadType || pt === remote.telephoneEventPayloadType || pt === this.#cnPayloadType);
    if (verdict === 'candidate') {
      // A source other than the SDP address: latched after a run of valid packets, dropped until then.
      if (!this.#latch.offerRtp(from, negotiated ? pkt!.sequenceNumber : undefined, nowMs)) {
        this.#rejected(from);
        return false;
      }
      this.#log.info({ source: `${from.address}:${from.port}` }, 'rtp source latched (not the SDP address)');
    } else if (!negotiated) {
      this.counters.unknownPayloadType++;
      this.#repeat.log(
        'warn',
        'unknown-payload-type',
        () => ({ event: 'unknown-payload-type', payloadType: pt, source: `${from.address}:${from.port}` }),
        'rtp packets of a payload type not negotiated dropped',
      );
      return false;
    } else if (this.#latch.latchRtp(from, nowMs)) {
      this.#log.debug({ source: `${from.address}:${from.port}` }, 'rtp source latched');
    }
    this.#tracker.receive(pkt!, nowMs);
    return true;
  }

  /** One compound RTCP packet (from the RTCP socket, or the RTP socket with rtcp-mux). */
  receiveRtcp(data: Uint8Array, from: RemoteInfo, nowMs: number): void {
    if (!this.#remote) {
      return;
    }
    const verdict = this.#latch.checkRtcp(from);
    if (verdict === 'reject') {
      this.#rejected(from);
      return;
    }
    const plain = this.#unprotect(data, from, nowMs, true);
    if (!plain) {
      return;
    }
    let packets;
    try {
      // Reduced-size RTCP (RFC 5506) is taken whether or not a=rtcp-rsize was negotiated: that
      // attribute governs what a sender may send; every other A.2 check applies, and under SRTP
      // the packet has already authenticated. We use only SR and BYE from it.
      packets = parseRtcp(plain, { reducedSize: true });
    } catch (err) {
      if (verdict === 'accept') {
        this.#malformed(err, from);
      } else {
        this.#latch.offerRtcp(from, false);
        this.#rejected(from);
      }
      return;
    }
    if (verdict === 'candidate' && !this.#latch.offerRtcp(from, true)) {
      this.#rejected(from);
      return;
    }
    this.counters.rtcpReceived++;
    const first = packets[0]?.type;
    if (first !== 'sr' && first !== 'rr') {
      this.counters.rtcpReducedSize++;
    }
    if (verdict === 'accept') {
      this.#latch.latchRtcp(from);
    }
    const src = this.#tracker.source;
    for (const p of packets) {
      if (p.type === 'sr' && src && p.ssrc === src.ssrc) {
        src.onSenderReport(p.ntpSec, p.ntpFrac, nowMs);
      } else if (p.type === 'bye') {
        this.#log.debug({ ssrcs: p.ssrcs, reason: p.reason }, 'rtcp bye');
      }
    }
  }

  /** Reports a DTMF event still in progress (the call ends). */
  flush(): void {
    const ev = this.#dtmf.flush();
    if (ev) {
      this.#emitDtmf(ev);
    }
  }

  /**
   * The packet of an SRTP/SRTCP datagram (as it is for plain RTP), or undefined when it was dropped:
   * failed authentication and replays counted apart, a datagram too short for its tag as malformed.
   */
  #unprotect(data: Uint8Array, from: RemoteInfo, nowMs: number, rtcp: boolean): Uint8Array | undefined {
    try {
      return rtcp ? this.#srtp.unprotectRtcp(data, nowMs) : this.#srtp.unprotectRtp(data, nowMs);
    } catch (err) {
      if (!(err instanceof SrtpError) || (err.code !== 'SRTP_ERR_AUTH' && err.code !== 'SRTP_ERR_REPLAY')) {
        this.#malformed(err, from);
        return undefined;
      }
      const auth = err.code === 'SRTP_ERR_AUTH';
      if (auth) {
        this.counters.srtpAuthFailed++;
      } else {
        this.counters.srtpReplayed++;
      }
      const kind = auth ? 'srtp-auth' : 'srtp-replay';
      this.#repeat.log(
        'warn',
        kind,
        () => ({ event: kind, source: `${from.address}:${from.port}`, error: err.message }),
        auth ? 'srtp packets failing authentication dropped' : 'srtp replayed packets dropped',
      );
      return undefined;
    }
  }

  #malformed(err: unknown, from: RemoteInfo): void {
    const code = err instanceof RtpError ? err.code : 'UNKNOWN';
    const m = this.counters.malformed;
    m[code] = (m[code] ?? 0) + 1;
    this.#repeat.log(
      'warn',
      `malformed:${code}`,
      () => ({
        event: `malformed:${code}`,
        code,
        source: `${from.address}:${from.port}`,
        error: err instanceof Error ? err.message : String(err),
      }),
      'malformed rtp/rtcp datagrams dropped',
    );
  }

  #rejected(from: RemoteInfo): void {
    this.counters.rejectedSource++;
    this.#repeat.log(
      'warn',
      'rejected-source',
      () => ({ event: 'rejected-source', source: `${from.address}:${from.port}` }),
      'rtp datagrams from a rejected source dropped',
    );
  }

  #deliver(pkt: RtpPacket, at: number): void {
    const remote = this.#remote!;
    this.counters.received++;
    const pt = pkt.payloadType;
    if (pt === remote.payloadType) {
      this.#jb.push(pkt.sequenceNumber, pkt.timestamp, pkt.payload, at, this.#codec!.decode, pkt.marker);
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
    this.counters.dtmfEvents++;
    this.#log.debug({ digit: ev.digit, durationMs: ev.durationMs }, 'dtmf');
    this.#h.onDtmf(ev);
  }
}
