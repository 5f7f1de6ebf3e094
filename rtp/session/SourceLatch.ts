import type { RemoteInfo } from './socket.js';
import type { RemoteMedia } from './types.js';

/**
 * Symmetric RTP (RFC 4961 style, as SBCs do for callers behind a NAT): which address a session
 * accepts media from and where it sends its own RTP and RTCP.
 *
 * - RTP from the SDP address and port is always accepted (and takes the latch).
 * - Otherwise, without `strict`, the first other source heard is latched and the rest rejected;
 *   with `strict`, only the SDP address and port are accepted.
 * - RTCP is rejected only in strict mode, when it does not come from the SDP address (any port);
 *   without rtcp-mux the first RTCP source heard is latched as the RTCP destination.
 * - We send to the latched source, or to the SDP address until something is latched; with
 *   rtcp-mux RTCP goes where RTP goes.
 * - A new SDP address or port (re-INVITE) clears both latches.
 *
 * Holds no per-packet state: the destinations are objects built when the remote or a latch changes.
 */
export class SourceLatch {
  readonly #strict: boolean;
  #remote: RemoteMedia | undefined;
  #sdpRtp: RemoteInfo = { address: '', port: 0 };
  #sdpRtcp: RemoteInfo = { address: '', port: 0 };
  #rtp: RemoteInfo | undefined;
  #rtcp: RemoteInfo | undefined;

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
    }
    this.#remote = remote;
    this.#sdpRtp = { address: remote.address, port: remote.port };
    this.#sdpRtcp = { address: remote.address, port: remote.rtcpPort };
  }

  /** Whether RTP from `from` is acceptable (before its payload is even parsed). */
  acceptRtp(from: RemoteInfo): boolean {
    const remote = this.#remote;
    if (!remote) {
      return false;
    }
    if (from.address === remote.address && from.port === remote.port) {
      return true;
    }
    const want = this.#strict ? remote : this.#rtp;
    return !want || (want.address === from.address && want.port === from.port);
  }

  /**
   * Latches `from` as the RTP source (first source, or the SDP address taking over from a latched
   * one). Call it for a packet that was accepted and is valid.
   * @returns true when the latch changed
   */
  latchRtp(from: RemoteInfo): boolean {
    const l = this.#rtp;
    if (l && l.address === from.address && l.port === from.port) {
      return false;
    }
    this.#rtp = { address: from.address, port: from.port };
    return true;
  }

  /** Whether RTCP from `from` is acceptable. */
  acceptRtcp(from: RemoteInfo): boolean {
    const remote = this.#remote;
    return remote !== undefined && !(this.#strict && from.address !== remote.address);
  }

  /** Latches the first RTCP source heard as our RTCP destination (without rtcp-mux). */
  latchRtcp(from: RemoteInfo): void {
    if (this.#remote && !this.#remote.rtcpMux) {
      this.#rtcp ??= { address: from.address, port: from.port };
    }
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
