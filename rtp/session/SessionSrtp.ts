import { RtpConfigError, SrtpError } from '../errors.js';
import { SrtpContext } from '../srtp/SrtpContext.js';
import { srtpSuite } from '../srtp/suites.js';
import type { RemoteMedia } from './types.js';

type SrtpKeys = NonNullable<RemoteMedia['srtp']>;

/**
 * How long packets under the peer's previous key are still taken once its new key is in use: a
 * re-INVITE's rekey (RFC 4568 §7.1.4) must not drop the packets still in flight or reordered
 * around the switch. Far above the jitter buffer's reach (500 ms).
 */
export const REKEY_OVERLAP_MS = 2000;

/**
 * A session's SRTP (RFC 3711) as negotiated by SDES: one context for what the peer sends (its key),
 * one for what we send (ours), both rebuilt only when their key changes (a re-INVITE repeating the
 * same keys keeps rollover counters and replay lists). After a rekey the previous receive context
 * stays usable until {@link REKEY_OVERLAP_MS} after the first packet authenticated under the new
 * key, so no audio is lost at the switch. Without keys it is a pass-through (plain RTP).
 */
export class SessionSrtp {
  #keys: SrtpKeys | undefined;
  #rx: SrtpContext | undefined;
  #tx: SrtpContext | undefined;
  /** The receive context of the previous key, and when it stops being tried (set at first use of the new one). */
  #previous: { ctx: SrtpContext; until: number | undefined } | undefined;

  /** True when media is SRTP. */
  get active(): boolean {
    return this.#keys !== undefined;
  }

  /** The suite in use, if any. */
  get suite(): string | undefined {
    return this.#keys?.suite;
  }

  /**
   * Takes the negotiated keys (start, re-INVITE); undefined turns SRTP off.
   * @throws {RtpConfigError} on a suite we do not implement or a key of the wrong length
   */
  configure(keys: SrtpKeys | undefined): void {
    if (!keys) {
      this.#keys = this.#rx = this.#tx = this.#previous = undefined;
      return;
    }
    const suite = srtpSuite(keys.suite);
    if (!suite) {
      throw new RtpConfigError(`unsupported SRTP suite ${keys.suite}`);
    }
    const old = this.#keys;
    const sameSuite = old?.suite === keys.suite;
    let rx = this.#rx;
    let tx = this.#tx;
    try {
      if (!rx || old === undefined || !sameSuite || !equal(old.remoteKey, keys.remoteKey)) {
        rx = new SrtpContext(
          suite,
          keys.remoteKey,
          keys.remoteLifetime === undefined ? {} : { lifetime: keys.remoteLifetime },
        );
      }
      if (!tx || old === undefined || !sameSuite || !equal(old.localKey, keys.localKey)) {
        tx = new SrtpContext(suite, keys.localKey);
      }
    } catch (err) {
      throw new RtpConfigError(`SRTP keys refused: ${(err as Error).message}`);
    }
    if (this.#rx && rx !== this.#rx) {
      this.#previous = { ctx: this.#rx, until: undefined };
    }
    this.#keys = { ...keys };
    this.#rx = rx;
    this.#tx = tx;
  }

  /**
   * The RTP packet of a received datagram (decrypted in place), or the datagram itself when SRTP
   * is off.
   * @throws {SrtpError} when it fails authentication, is a replay or is too short
   */
  unprotectRtp(data: Uint8Array, nowMs: number): Uint8Array {
    return this.#unprotect(data, nowMs, false);
  }

  /** The same for a compound RTCP packet (SRTCP). */
  unprotectRtcp(data: Uint8Array, nowMs: number): Uint8Array {
    return this.#unprotect(data, nowMs, true);
  }

  /** SRTP of an RTP packet we send (a new buffer), or the packet itself when SRTP is off. */
  protectRtp(packet: Uint8Array): Uint8Array {
    return this.#tx ? this.#tx.protectRtp(packet) : packet;
  }

  /** SRTCP of a compound RTCP packet we send, or the packet itself when SRTP is off. */
  protectRtcp(packet: Uint8Array): Uint8Array {
    return this.#tx ? this.#tx.protectRtcp(packet) : packet;
  }

  /** Per packet: no closure or object is made here (plain RTP returns at once). */
  #unprotect(data: Uint8Array, nowMs: number, rtcp: boolean): Uint8Array {
    const rx = this.#rx;
    if (!rx) {
      return data;
    }
    const prev = this.#previous;
    if (prev?.until !== undefined && nowMs >= prev.until) {
      this.#previous = undefined;
    }
    try {
      const out = rtcp ? rx.unprotectRtcp(data) : rx.unprotectRtp(data);
      if (prev && prev.until === undefined) {
        prev.until = nowMs + REKEY_OVERLAP_MS;
      }
      return out;
    } catch (err) {
      // A failed check leaves the packet untouched: it can be tried under the previous key.
      if (this.#previous && err instanceof SrtpError && err.code === 'SRTP_ERR_AUTH') {
        try {
          const { ctx } = this.#previous;
          return rtcp ? ctx.unprotectRtcp(data) : ctx.unprotectRtp(data);
        } catch {
          // the error of the current key is the one reported
        }
      }
      throw err;
    }
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
