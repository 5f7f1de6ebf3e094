import { seqAdd } from '../seq.js';
import type { RemoteInfo } from './socket.js';
import type { RemoteMedia } from './types.js';

/** Consecutive valid packets (RTP: with consecutive sequence numbers) that latch another source. */
const LATCH_AFTER = 4;
/** How long a latched source (not the SDP address) must have been silent before another replaces it. */
export const LATCH_QUIET_MS = 500;

/** What to do with a datagram, before it is parsed. */
type SourceVerdict =
  /** From the SDP address or the latched source: process it. */
  | 'accept'
  /** From a stranger that may not be latched: drop it. */
  | 'reject'
  /** From another source that may become the latched one: parse it, then {@link SourceLatch.offerRtp}. */
  | 'candidate';

interface Candidate {
  address: string;
  port: number;
  /** Consecutive valid packets seen. */
  count: number;
  /** RTP: the last sequence number. */
  seq: number;
}

/**
 * Symmetric RTP (RFC 4961 style, as SBCs do for callers behind a NAT): which address a session
 * accepts media from and where it sends its own RTP and RTCP.
 *
 * - RTP from the SDP address and port is always accepted and takes the latch at once; once it has
 *   been heard, no other source can take the latch (the peer is reachable where its SDP says).
 * - Another source (a caller behind a NAT) is latched only after {@link LATCH_AFTER} consecutive
 *   valid packets with consecutive sequence numbers, with no valid packet from the SDP address or
 *   the latched source in between, and (when something is latched already, e.g. a NAT rebinding)
 *   after the latched source has been silent for {@link LATCH_QUIET_MS}. Until then its packets are
 *   dropped, and our RTP goes to the SDP address. With `strict`, only the SDP address and port.
 * - RTCP from the SDP address (any port) or from the latched RTP address (any port) is accepted;
 *   from another source only after {@link LATCH_AFTER} valid reports in a row (it then becomes the
 *   RTCP destination). With `strict`, only from the SDP address.
 * - We send to the latched source, or to the SDP address until something is latched; with
 *   rtcp-mux RTCP goes where RTP goes.
 * - A new SDP address or port (re-INVITE) clears the latches.
 *
 * Holds no per-packet allocation: the destinations are objects built when the remote or a latch changes.
 */
export class SourceLatch {
  readonly #strict: boolean;
  #remote: RemoteMedia | undefined;
  #sdpRtp: RemoteInfo = { address: '', port: 0 };
  #sdpRtcp: RemoteInfo = { address: '', port: 0 };
  #rtp: RemoteInfo | undefined;
  #rtcp: RemoteInfo | undefined;
  /** The SDP address and port has sent a valid RTP packet (since the remote was set). */
  #sdpHeard = false;
  /** When the latched source last sent a valid packet. */
  #rtpHeardAt = 0;
  #rtpCandidate: Candidate | undefined;
  #rtcpCandidate: Candidate | undefined;

  /** @param strict accept RTP only from the SDP address and port (no latching of other sources) */
  constructor(strict: boolean) {
    this.#strict = strict;
  }

  /** Takes the remote description (start or re-INVITE); a new address or port clears the latches. */
  setRemote(remote: RemoteMedia): void {
    const old = this.#remote;
    if (old && (old.address !== remote.address || old.port !== remote.port)) {
      this.#rtp = undefined;
      this.#rtcp = undefined;
      this.#sdpHeard = false;
      this.#rtpCandidate = undefined;
      this.#rtcpCandidate = undefined;
    }
    this.#remote = remote;
    this.#sdpRtp = { address: remote.address, port: remote.port };
    this.#sdpRtcp = { address: remote.address, port: remote.rtcpPort };
  }

  /** What to do with RTP from `from` (before its payload is even parsed). */
  checkRtp(from: RemoteInfo): SourceVerdict {
    const remote = this.#remote;
    if (!remote) {
      return 'reject';
    }
    if (same(from, remote)) {
      return 'accept';
    }
    if (this.#strict || this.#sdpHeard) {
      return 'reject';
    }
    return this.#rtp && same(from, this.#rtp) ? 'accept' : 'candidate';
  }

  /**
   * A valid packet from an accepted source: the SDP address takes the latch over, and the count of
   * a candidate restarts.
   * @returns true when the latch changed
   */
  latchRtp(from: RemoteInfo, nowMs: number): boolean {
    this.#rtpCandidate = undefined;
    this.#rtpHeardAt = nowMs;
    if (this.#remote && same(from, this.#remote)) {
      this.#sdpHeard = true;
    }
    if (this.#rtp && same(from, this.#rtp)) {
      return false;
    }
    this.#rtp = { address: from.address, port: from.port };
    return true;
  }

  /**
   * A packet from a candidate source (see {@link checkRtp}): `seq` is its sequence number when it
   * is a valid RTP packet of a negotiated payload type, undefined otherwise (which restarts its count).
   * @returns true when the source is latched now (this packet is accepted)
   */
  offerRtp(from: RemoteInfo, seq: number | undefined, nowMs: number): boolean {
    const c = this.#rtpCandidate;
    if (seq === undefined) {
      if (c && same(from, c)) {
        this.#rtpCandidate = undefined;
      }
      return false;
    }
    if (c && same(from, c) && seq === seqAdd(c.seq, 1)) {
      c.count++;
      c.seq = seq;
    } else {
      this.#rtpCandidate = { address: from.address, port: from.port, count: 1, seq };
    }
    const n = this.#rtpCandidate!.count;
    if (n < LATCH_AFTER || (this.#rtp && nowMs - this.#rtpHeardAt < LATCH_QUIET_MS)) {
      return false;
    }
    this.latchRtp(from, nowMs);
    return true;
  }

  /** What to do with RTCP from `from`. */
  checkRtcp(from: RemoteInfo): SourceVerdict {
    const remote = this.#remote;
    if (!remote) {
      return 'reject';
    }
    if (from.address === remote.address) {
      return 'accept';
    }
    if (this.#strict) {
      return 'reject';
    }
    if ((this.#rtp && from.address === this.#rtp.address) || (this.#rtcp && same(from, this.#rtcp))) {
      return 'accept';
    }
    return 'candidate';
  }

  /** A valid report from an accepted source: the first one heard becomes our RTCP destination (without rtcp-mux). */
  latchRtcp(from: RemoteInfo): void {
    this.#rtcpCandidate = undefined;
    if (this.#remote && !this.#remote.rtcpMux) {
      this.#rtcp ??= { address: from.address, port: from.port };
    }
  }

  /**
   * A report from a candidate source (see {@link checkRtcp}), `valid` when it parsed.
   * @returns true when the source is latched now (this report is accepted)
   */
  offerRtcp(from: RemoteInfo, valid: boolean): boolean {
    const c = this.#rtcpCandidate;
    if (!valid) {
      if (c && same(from, c)) {
        this.#rtcpCandidate = undefined;
      }
      return false;
    }
    if (c && same(from, c)) {
      c.count++;
    } else {
      this.#rtcpCandidate = { address: from.address, port: from.port, count: 1, seq: 0 };
    }
    if (this.#rtcpCandidate!.count < LATCH_AFTER) {
      return false;
    }
    this.#rtcpCandidate = undefined;
    this.#rtcp = { address: from.address, port: from.port };
    return true;
  }

  /** Where our RTP goes: the latched source, else the SDP address and port. */
  get rtpTarget(): RemoteInfo {
    return this.#rtp ?? this.#sdpRtp;
  }

  /** Where our RTCP goes: with rtcp-mux where RTP goes, else the latched RTCP source or the SDP RTCP port. */
  get rtcpTarget(): RemoteInfo {
    if (this.#remote?.rtcpMux) {
      return this.rtpTarget;
    }
    return this.#rtcp ?? this.#sdpRtcp;
  }
}

function same(a: RemoteInfo, b: RemoteInfo): boolean {
  return a.address === b.address && a.port === b.port;
}
