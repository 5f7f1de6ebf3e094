import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { SrtpError } from '../errors.js';
import { AesCm } from './AesCm.js';
import { deriveSessionKeys } from './kdf.js';
import { ReplayWindow } from './ReplayWindow.js';
import type { SrtpSuite } from './suites.js';

/** Streams (SSRCs) remembered per context; the least recently used one is forgotten beyond. */
const MAX_STREAMS = 16;
/** The SRTCP E flag (RFC 3711 §3.4): the packet is encrypted. */
const E_FLAG = 0x80000000;

/** Per-SSRC state of one direction: RFC 3711 §3.2.1 rollover counter, highest sequence, replay list. */
interface Stream {
  roc: number;
  /** s_l: the highest sequence number authenticated (receive) or sent (send); -1 before the first. */
  sl: number;
  readonly rtpReplay: ReplayWindow;
  readonly rtcpReplay: ReplayWindow;
  /** Send side: the next SRTCP index − 1. */
  rtcpIndex: number;
}

/**
 * One direction of an SRTP session (RFC 3711) under one master key: protects what we send or
 * unprotects what we receive, RTP and RTCP, for any number of SSRCs. Session keys are derived once
 * (key derivation rate 0, the SDES default); AES-128 counter mode and HMAC-SHA1 come from
 * node:crypto.
 *
 * Unprotecting checks, in this order, the length, the replay list and the authentication tag, and
 * only then decrypts: a packet that fails is never decrypted nor parsed, and the rollover counter
 * and replay list only move for authentic packets. Failures throw {@link SrtpError} (the receive
 * path counts them by code).
 */
export class SrtpContext {
  readonly suite: SrtpSuite;
  readonly #rtpCipher: AesCm;
  readonly #rtcpCipher: AesCm;
  readonly #rtpAuth: KeyObject;
  readonly #rtcpAuth: KeyObject;
  readonly #rtpSalt: Buffer;
  readonly #rtcpSalt: Buffer;
  readonly #streams = new Map<number, Stream>();
  readonly #iv = Buffer.alloc(16);
  readonly #roc = Buffer.alloc(4);
  /** The SSRC used last (the last key of `#streams`): no reordering while it stays the same. */
  #lastSsrc = -1;

  /**
   * @param keySalt the master key followed by the master salt (30 bytes: the SDES inline key)
   * @throws {RangeError} on a wrong length
   */
  constructor(suite: SrtpSuite, keySalt: Uint8Array) {
    if (keySalt.length !== suite.keyLength + suite.saltLength) {
      throw new RangeError(
        `${suite.name} needs ${suite.keyLength + suite.saltLength} bytes of key and salt, got ${keySalt.length}`,
      );
    }
    this.suite = suite;
    const k = deriveSessionKeys(keySalt.subarray(0, suite.keyLength), keySalt.subarray(suite.keyLength));
    this.#rtpCipher = new AesCm(k.rtpEncryption);
    this.#rtcpCipher = new AesCm(k.rtcpEncryption);
    this.#rtpAuth = createSecretKey(k.rtpAuth);
    this.#rtcpAuth = createSecretKey(k.rtcpAuth);
    this.#rtpSalt = k.rtpSalt;
    this.#rtcpSalt = k.rtcpSalt;
  }

  /** The rollover counter of an SSRC (tests, diagnostics); undefined when unknown. */
  rolloverCounter(ssrc: number): number | undefined {
    return this.#streams.get(ssrc)?.roc;
  }

  /**
   * SRTP from an RTP packet: the payload encrypted, the tag appended. Returns a new buffer; `packet`
   * is not changed.
   * @throws {SrtpError} SRTP_ERR_MALFORMED when `packet` is not RTP
   */
  protectRtp(packet: Uint8Array): Buffer {
    const hdr = rtpHeaderLength(packet, packet.length);
    const ssrc = readU32(packet, 8);
    const seq = (packet[2]! << 8) | packet[3]!;
    const s = this.#stream(ssrc);
    if (s.sl < 0) {
      s.sl = seq;
    } else if (seq < s.sl && s.sl - seq > 0x8000) {
      s.roc = (s.roc + 1) >>> 0; // the sequence number wrapped
      s.sl = seq;
    } else if (seq > s.sl && seq - s.sl < 0x8000) {
      s.sl = seq;
    }
    const tag = this.suite.rtpTagLength;
    const out = Buffer.allocUnsafe(packet.length + tag);
    out.set(packet);
    this.#rtpIv(ssrc, s.roc * 0x10000 + seq);
    this.#rtpCipher.apply(this.#iv, out.subarray(hdr, packet.length));
    this.#rtpTag(out.subarray(0, packet.length), s.roc).copy(out, packet.length, 0, tag);
    return out;
  }

  /**
   * RTP from an SRTP packet: authenticated, checked against replay, then decrypted in place.
   * Returns the RTP packet (a view of `packet` without the tag).
   * @throws {SrtpError} SRTP_ERR_TRUNCATED, SRTP_ERR_REPLAY, SRTP_ERR_AUTH, SRTP_ERR_MALFORMED
   */
  unprotectRtp(packet: Uint8Array): Uint8Array {
    const tagLen = this.suite.rtpTagLength;
    const end = packet.length - tagLen;
    if (end < 12 || packet[0]! >> 6 !== 2) {
      throw new SrtpError('SRTP_ERR_TRUNCATED', `srtp packet of ${packet.length} bytes`);
    }
    const ssrc = readU32(packet, 8);
    const seq = (packet[2]! << 8) | packet[3]!;
    const known = this.#streams.get(ssrc);
    // RFC 3711 §3.3.1 / Appendix A: the index guessed from the highest sequence number and ROC.
    let v = known?.roc ?? 0;
    if (known && known.sl >= 0) {
      if (known.sl < 0x8000) {
        if (seq - known.sl > 0x8000) {
          v = known.roc - 1;
        }
      } else if (known.sl - 0x8000 > seq) {
        v = known.roc + 1;
      }
    }
    if (v < 0 || v > 0xffffffff) {
      throw new SrtpError('SRTP_ERR_REPLAY', `srtp index before the rollover counter's start (seq ${seq})`);
    }
    const index = v * 0x10000 + seq;
    if (known) {
      const r = known.rtpReplay.check(index);
      if (r !== 'ok') {
        throw new SrtpError('SRTP_ERR_REPLAY', `srtp packet ${r} (ssrc ${ssrc}, index ${index})`);
      }
    }
    const expected = this.#rtpTag(packet.subarray(0, end), v);
    if (!tagEqual(expected, packet, end, tagLen)) {
      throw new SrtpError('SRTP_ERR_AUTH', `srtp authentication failed (ssrc ${ssrc}, seq ${seq})`);
    }
    const hdr = rtpHeaderLength(packet, end);
    const s = this.#stream(ssrc);
    if (s.sl < 0 || v > s.roc) {
      s.roc = v;
      s.sl = seq;
    } else if (v === s.roc && seq > s.sl) {
      s.sl = seq;
    }
    s.rtpReplay.accept(index);
    this.#rtpIv(ssrc, index);
    const body = packet.subarray(hdr, end);
    this.#rtpCipher.apply(this.#iv, body);
    return packet.subarray(0, end);
  }

  /**
   * SRTCP from a compound RTCP packet: everything after the first 8 bytes encrypted, E flag and
   * SRTCP index appended, then the 80-bit tag. Returns a new buffer.
   * @throws {SrtpError} SRTP_ERR_MALFORMED when shorter than 8 bytes
   */
  protectRtcp(packet: Uint8Array): Buffer {
    if (packet.length < 8) {
      throw new SrtpError('SRTP_ERR_MALFORMED', `rtcp packet of ${packet.length} bytes`);
    }
    const ssrc = readU32(packet, 4);
    const s = this.#stream(ssrc);
    s.rtcpIndex = (s.rtcpIndex + 1) & 0x7fffffff;
    const index = s.rtcpIndex;
    const tag = this.suite.rtcpTagLength;
    const out = Buffer.allocUnsafe(packet.length + 4 + tag);
    out.set(packet);
    this.#rtcpIvFor(ssrc, index);
    this.#rtcpCipher.apply(this.#iv, out.subarray(8, packet.length));
    out.writeUInt32BE((E_FLAG | index) >>> 0, packet.length);
    this.#hmac(this.#rtcpAuth, out.subarray(0, packet.length + 4)).copy(out, packet.length + 4, 0, tag);
    return out;
  }

  /**
   * RTCP from an SRTCP packet: authenticated, checked against replay, decrypted in place when the E
   * flag is set. Returns the compound RTCP packet (a view of `packet`).
   * @throws {SrtpError} SRTP_ERR_TRUNCATED, SRTP_ERR_REPLAY, SRTP_ERR_AUTH
   */
  unprotectRtcp(packet: Uint8Array): Uint8Array {
    const tagLen = this.suite.rtcpTagLength;
    const end = packet.length - tagLen;
    if (end < 12) {
      throw new SrtpError('SRTP_ERR_TRUNCATED', `srtcp packet of ${packet.length} bytes`);
    }
    const ssrc = readU32(packet, 4);
    const word = readU32(packet, end - 4);
    const index = word & 0x7fffffff;
    const s = this.#streams.get(ssrc);
    const r = s?.rtcpReplay.check(index) ?? 'ok';
    if (r !== 'ok') {
      throw new SrtpError('SRTP_ERR_REPLAY', `srtcp packet ${r} (ssrc ${ssrc}, index ${index})`);
    }
    const expected = this.#hmac(this.#rtcpAuth, packet.subarray(0, end));
    if (!tagEqual(expected, packet, end, tagLen)) {
      throw new SrtpError('SRTP_ERR_AUTH', `srtcp authentication failed (ssrc ${ssrc}, index ${index})`);
    }
    this.#stream(ssrc).rtcpReplay.accept(index);
    if (word & E_FLAG) {
      this.#rtcpIvFor(ssrc, index);
      this.#rtcpCipher.apply(this.#iv, packet.subarray(8, end - 4));
    }
    return packet.subarray(0, end - 4);
  }

  #stream(ssrc: number): Stream {
    let s = this.#streams.get(ssrc);
    if (s && ssrc === this.#lastSsrc) {
      return s; // already the most recently used
    }
    this.#lastSsrc = ssrc;
    if (s) {
      // Most recently used last, so the first key is the one to forget.
      this.#streams.delete(ssrc);
    } else {
      s = { roc: 0, sl: -1, rtpReplay: new ReplayWindow(), rtcpReplay: new ReplayWindow(), rtcpIndex: 0 };
      if (this.#streams.size >= MAX_STREAMS) {
        this.#streams.delete(this.#streams.keys().next().value!);
      }
    }
    this.#streams.set(ssrc, s);
    return s;
  }

  /** IV = (k_s · 2^16) XOR (SSRC · 2^64) XOR (index · 2^16) (RFC 3711 §4.1.1). */
  #ivFrom(salt: Buffer, ssrc: number, index: number): void {
    const iv = this.#iv;
    salt.copy(iv, 0, 0, 14);
    iv[14] = 0;
    iv[15] = 0;
    iv[4]! ^= ssrc >>> 24;
    iv[5]! ^= (ssrc >>> 16) & 0xff;
    iv[6]! ^= (ssrc >>> 8) & 0xff;
    iv[7]! ^= ssrc & 0xff;
    const hi = Math.floor(index / 0x100000000);
    iv[8]! ^= (hi >>> 8) & 0xff;
    iv[9]! ^= hi & 0xff;
    iv[10]! ^= (index >>> 24) & 0xff;
    iv[11]! ^= (index >>> 16) & 0xff;
    iv[12]! ^= (index >>> 8) & 0xff;
    iv[13]! ^= index & 0xff;
  }

  #rtpIv(ssrc: number, index: number): void {
    this.#ivFrom(this.#rtpSalt, ssrc, index);
  }

  #rtcpIvFor(ssrc: number, index: number): void {
    this.#ivFrom(this.#rtcpSalt, ssrc, index);
  }

  /** HMAC-SHA1(auth key, packet || ROC) (RFC 3711 §4.2). */
  #rtpTag(authenticated: Uint8Array, roc: number): Buffer {
    this.#roc.writeUInt32BE(roc >>> 0, 0);
    return createHmac('sha1', this.#rtpAuth).update(authenticated).update(this.#roc).digest();
  }

  #hmac(key: KeyObject, data: Uint8Array): Buffer {
    return createHmac('sha1', key).update(data).digest();
  }
}

/**
 * The first `length` bytes of `expected` against the tag at `at` of `packet`, in time independent
 * of where they differ (as timingSafeEqual, without its two views per packet).
 */
function tagEqual(expected: Uint8Array, packet: Uint8Array, at: number, length: number): boolean {
  let diff = 0;
  for (let i = 0; i < length; i++) {
    diff |= expected[i]! ^ packet[at + i]!;
  }
  return diff === 0;
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/**
 * The RTP header length (fixed header, CSRCs, extension) of `packet` whose RTP part ends at `end`.
 * @throws {SrtpError} SRTP_ERR_MALFORMED when it does not fit
 */
function rtpHeaderLength(packet: Uint8Array, end: number): number {
  if (end < 12) {
    throw new SrtpError('SRTP_ERR_MALFORMED', `rtp packet of ${end} bytes`);
  }
  let len = 12 + 4 * (packet[0]! & 0x0f);
  if (packet[0]! & 0x10) {
    if (len + 4 > end) {
      throw new SrtpError('SRTP_ERR_MALFORMED', 'rtp header extension past the end of the packet');
    }
    len += 4 + 4 * ((packet[len + 2]! << 8) | packet[len + 3]!);
  }
  if (len > end) {
    throw new SrtpError('SRTP_ERR_MALFORMED', 'rtp header past the end of the packet');
  }
  return len;
}
