import type { Clock } from '../../lib/clock.js';
import type { Concealer } from '../jitter/JitterBuffer.js';
import type { Logger } from '../../lib/logger.js';
import type { DtmfEvent } from './DtmfReceiver.js';
import type { SocketFactory } from './socket.js';

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
  /**
   * SRTP (RFC 3711) keyed by SDES: the suite (`srtp/suites.ts`), the peer's master key and salt
   * (what it sends is protected with it) and ours (what we send), and the lifetime in packets of
   * the peer's key when its SDP gave one (packets beyond it are dropped). Absent: plain RTP.
   */
  srtp?: { suite: string; remoteKey: Uint8Array; localKey: Uint8Array; remoteLifetime?: number };
}

/**
 * What a session sends when it has no audio queued (`play`):
 * - `silence`: a G.711 silence packet every ptime (50 packets/s at 20 ms), as a phone would;
 * - `keepalive`: one silence packet every `keepaliveMs` (RFC 6263 keep-alive; to the peer it looks
 *   like a sender with silence suppression, RFC 3551 §4.1: timestamps keep counting call time,
 *   sequence numbers stay consecutive, marker bit on the first packet after a pause);
 * - `none`: no RTP at all (RTCP reports go on); for an answer of `a=recvonly`.
 */
export type SendBack = 'silence' | 'keepalive' | 'none';

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
  /**
   * The session stopped for good without being closed: its media thread died (`MediaThreads`).
   * No frame comes after it; close nothing, end the call.
   */
  onFailed?(err: Error): void;
}

export interface RtpSessionOptions {
  /** Local address to bind (e.g. '0.0.0.0' or '127.0.0.1'). */
  host: string;
  /** Port range: an even RTP port and RTCP on the next one are taken from it. */
  portMin: number;
  portMax: number;
  clock?: Clock;
  logger?: Logger;
  /**
   * Jitter buffer delay settings (see rtp/README.md, "What the buffer does"): lowest target delay,
   * highest delay it grows to (also to wait for late packets), and how fast an excess delay is
   * played away in percent of real time. Defaults 60 ms, 500 ms, 10 %.
   */
  jitter?: { minDelayMs?: number; maxDelayMs?: number; shrinkPercent?: number };
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
  /** Wall clock in ms since 1970 for RTCP SR NTP timestamps. Default `performance.timeOrigin + clock.now()`. */
  wallClockMs?: () => number;
  /** Payload type of comfort noise (RFC 3389). Default 13. */
  comfortNoisePayloadType?: number;
  /**
   * What is sent while no audio is queued with `play()` (see `RtpSender.ts`): `silence` at ptime,
   * a `keepalive` packet every `keepaliveMs`, or `none` (no RTP; the SDP answer must say
   * `recvonly`). Default `silence`.
   */
  sendBack?: SendBack;
  /** Interval of `keepalive` packets in ms (20–60000). Default 1000. */
  keepaliveMs?: number;
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
  /** Media is SRTP (the suite), or null for plain RTP. */
  srtp: string | null;
  /** SRTP/SRTCP packets that failed authentication (dropped, never decoded). */
  srtpAuthFailed: number;
  /** SRTP/SRTCP packets dropped as replays or too old for the replay window. */
  srtpReplayed: number;
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
