import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { SrtpError } from '../errors.js';
import { AesCm } from './AesCm.js';
import { HmacSha1 } from './HmacSha1.js';
import { deriveSessionKeys, type SessionKeys } from './kdf.js';
import { ReplayWindow } from './ReplayWindow.js';
import type { SrtpSuite } from './suites.js';

/** Streams (SSRCs) remembered per context; the least recently used one is forgotten beyond. */
const MAX_STREAMS = 16;
/** The SRTCP E flag (RFC 3711 §3.4): the packet is encrypted. */
const E_FLAG = 0x80000000;
/** The highest SRTCP index (31 bits); the key is worn out after it (RFC 3711 §9.2). */
const MAX_RTCP_INDEX = 0x7fffffff;
/** The highest rollover counter: SRTP indices are 48 bits (RFC 3711 §9.2). */
const MAX_ROC = 0xffffffff;
/**
 * The AES-GCM tag we send and accept: 128 bits (RFC 7714 §14.1 for both SDES suites of AES-GCM),
 * node:crypto's default (no `authTagLength` option: it costs about 0.8 µs per cipher object).
 */
const GCM_TAG = 16;
/**
 * SRTP indices whose AES-CM keystream is computed at once (see {@link AesCm}): 16 packets of
 * 20 ms μ-law are 2.8 KB of keystream per direction.
 */
const PREFETCH = 16;

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

interface SrtpContextOptions {
  /**
   * The master key's lifetime in packets (RFC 4568 §6.1 `|2^20`), counted apart for SRTP and SRTCP
   * as RFC 3711 §9.2 counts its limits (2^48 SRTP, 2^31 SRTCP packets, which also apply without
   * it): packets beyond it are refused with SRTP_ERR_KEY_EXPIRED.
   */
  lifetime?: number;
}

/**
 * One direction of an SRTP session (RFC 3711) under one master key: protects what we send or
 * unprotects what we receive, RTP and RTCP, for any number of SSRCs. Session keys are derived once
 * (key derivation rate 0, the SDES default). AES-CM suites: AES-128 or AES-256 (RFC 6188) counter
 * mode and HMAC-SHA1 from node:crypto; AEAD_AES_128_GCM and AEAD_AES_256_GCM (RFC 7714): node:crypto's aes-128-gcm or
 * aes-256-gcm with the header as AAD.
 *
 * Unprotecting checks, in this order, the length, the replay list and the authentication tag, and
 * only then writes the decrypted payload into the packet: a packet that fails is left untouched and
 * never parsed, and the rollover counter and replay list only move for authentic packets. Failures
 * throw {@link SrtpError} (the receive path counts them by code).
 */
export class SrtpContext {
  readonly suite: SrtpSuite;
  /** node:crypto's name of the suite's AES-GCM (`aes-128-gcm`, `aes-256-gcm`). */
  readonly #gcm: 'aes-128-gcm' | 'aes-256-gcm';
  readonly #rtpCipher: AesCm;
  readonly #rtcpCipher: AesCm;
  readonly #rtpAuth: HmacSha1;
  readonly #rtcpAuth: HmacSha1;
  readonly #rtpKey: KeyObject;
  readonly #rtcpKey: KeyObject;
  readonly #rtpSalt: Buffer;
  readonly #rtcpSalt: Buffer;
  /** SRTP and SRTCP packets this master key may still protect or authenticate (RFC 3711 §9.2). */
  #rtpLeft: number;
  #rtcpLeft: number;
  readonly #streams = new Map<number, Stream>();
  readonly #roc = Buffer.alloc(4);
  /** The AES-GCM IV of the packet at hand (see #gcmIv). */
  readonly #iv = Buffer.alloc(12);
  /** SRTCP AAD of AES-GCM when the payload is encrypted: the first 8 bytes and the E flag and index. */
  readonly #rtcpAad = Buffer.alloc(12);
  /** The SSRC used last (the last key of `#streams`): no reordering while it stays the same. */
  #lastSsrc = -1;

  /**
   * @param keys the master key followed by the master salt (the SDES inline key: 30 bytes for the
   *   AES-128 CM suites, 46 for AES-256 CM, 28 and 44 for AES-GCM), or session keys already derived (RFC test vectors)
   * @throws {RangeError} on a wrong length
   */
  constructor(suite: SrtpSuite, keys: Uint8Array | SessionKeys, options: SrtpContextOptions = {}) {
    let k: SessionKeys;
    if (keys instanceof Uint8Array) {
      if (keys.length !== suite.keyLength + suite.saltLength) {
        throw new RangeError(
          `${suite.name} needs ${suite.keyLength + suite.saltLength} bytes of key and salt, got ${keys.length}`,
        );
      }
      k = deriveSessionKeys(keys.subarray(0, suite.keyLength), keys.subarray(suite.keyLength));
    } else {
      k = keys;
    }
    this.suite = suite;
    this.#gcm = suite.keyLength === 32 ? 'aes-256-gcm' : 'aes-128-gcm';
    this.#rtpCipher = new AesCm(k.rtpEncryption, k.rtpSalt, PREFETCH);
    this.#rtcpCipher = new AesCm(k.rtcpEncryption, k.rtcpSalt);
    this.#rtpKey = createSecretKey(k.rtpEncryption);
    this.#rtcpKey = createSecretKey(k.rtcpEncryption);
    this.#rtpAuth = new HmacSha1(k.rtpAuth);
    this.#rtcpAuth = new HmacSha1(k.rtcpAuth);
    this.#rtpSalt = k.rtpSalt;
    this.#rtcpSalt = k.rtcpSalt;
    this.#rtpLeft = Math.min(options.lifetime ?? Infinity, 2 ** 48);
    this.#rtcpLeft = Math.min(options.lifetime ?? Infinity, 2 ** 31);
  }

  /** The rollover counter of an SSRC (tests, diagnostics); undefined when unknown. */
  rolloverCounter(ssrc: number): number | undefined {
    return this.#streams.get(ssrc)?.roc;
  }

  /**
   * SRTP from an RTP packet: the payload encrypted, the tag appended. Returns a new buffer; `packet`
   * is not changed.
   * @throws {SrtpError} SRTP_ERR_MALFORMED when `packet` is not RTP, SRTP_ERR_KEY_EXPIRED past the
   *   key's lifetime or its 2^48 indices
   */
  protectRtp(packet: Uint8Array): Buffer {
    const hdr = rtpHeaderLength(packet, packet.length);
    this.#rtpLeft = left(this.#rtpLeft, 'srtp');
    const ssrc = readU32(packet, 8);
    const seq = (packet[2]! << 8) | packet[3]!;
    const s = this.#stream(ssrc);
    if (s.sl < 0) {
      s.sl = seq;
    } else if (seq < s.sl && s.sl - seq > 0x8000) {
      if (s.roc === MAX_ROC) {
        throw new SrtpError(
          'SRTP_ERR_KEY_EXPIRED',
          `srtp index space of ssrc ${ssrc} exhausted (2^48 packets)`,
        );
      }
      s.roc++; // the sequence number wrapped
      s.sl = seq;
    } else if (seq > s.sl && seq - s.sl < 0x8000) {
      s.sl = seq;
    }
    const tag = this.suite.rtpTagLength;
    const out = Buffer.allocUnsafe(packet.length + tag);
    out.set(packet, 0);
    if (this.suite.aead) {
      const c = createCipheriv(this.#gcm, this.#rtpKey, this.#gcmIv(this.#rtpSalt, ssrc, s.roc, seq));
      c.setAAD(packet.subarray(0, hdr));
      out.set(c.update(packet.subarray(hdr)), hdr);
      c.final();
      c.getAuthTag().copy(out, packet.length);
      return out;
    }
    this.#rtpCipher.crypt(ssrc, s.roc * 0x10000 + seq, out, hdr, packet.length);
    writeTag(this.#rtpTag(out, packet.length, s.roc), out, packet.length, tag);
    return out;
  }

  /**
   * RTP from an SRTP packet: authenticated, checked against replay, then decrypted in place.
   * Returns the RTP packet (a view of `packet` without the tag).
   * @throws {SrtpError} SRTP_ERR_TRUNCATED, SRTP_ERR_REPLAY, SRTP_ERR_AUTH, SRTP_ERR_MALFORMED,
   *   SRTP_ERR_KEY_EXPIRED
   */
  unprotectRtp(packet: Uint8Array): Uint8Array {
    const tagLen = this.suite.rtpTagLength;
    const end = packet.length - tagLen;
    if (end < 12 || packet[0]! >> 6 !== 2) {
      throw new SrtpError('SRTP_ERR_TRUNCATED', `srtp packet of ${packet.length} bytes`);
    }
    left(this.#rtpLeft, 'srtp');
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
    if (v < 0 || v > MAX_ROC) {
      throw new SrtpError('SRTP_ERR_REPLAY', `srtp index outside the rollover counter's range (seq ${seq})`);
    }
    const index = v * 0x10000 + seq;
    if (known) {
      const r = known.rtpReplay.check(index);
      if (r !== 'ok') {
        throw new SrtpError('SRTP_ERR_REPLAY', `srtp packet ${r} (ssrc ${ssrc}, index ${index})`);
      }
    }
    let hdr: number;
    let plain: Buffer | undefined;
    if (this.suite.aead) {
      hdr = rtpHeaderLength(packet, end);
      plain = this.#gcmOpen(this.#rtpKey, this.#gcmIv(this.#rtpSalt, ssrc, v, seq), packet, hdr, end, end);
      if (!plain) {
        throw new SrtpError('SRTP_ERR_AUTH', `srtp authentication failed (ssrc ${ssrc}, seq ${seq})`);
      }
    } else {
      const expected = this.#rtpTag(packet, end, v);
      if (!tagEqual(expected, packet, end, tagLen)) {
        throw new SrtpError('SRTP_ERR_AUTH', `srtp authentication failed (ssrc ${ssrc}, seq ${seq})`);
      }
      hdr = rtpHeaderLength(packet, end);
    }
    this.#rtpLeft--;
    const s = this.#stream(ssrc);
    if (s.sl < 0 || v > s.roc) {
      s.roc = v;
      s.sl = seq;
    } else if (v === s.roc && seq > s.sl) {
      s.sl = seq;
    }
    s.rtpReplay.accept(index);
    if (plain) {
      packet.set(plain, hdr);
    } else {
      this.#rtpCipher.crypt(ssrc, index, packet, hdr, end);
    }
    return packet.subarray(0, end);
  }

  /**
   * SRTCP from a compound RTCP packet: everything after the first 8 bytes encrypted, E flag and
   * SRTCP index appended, then the tag (AES-CM: HMAC over all before it, RFC 3711 §3.4); AES-GCM
   * puts the tag before the E flag and index (RFC 7714 §9.1). Returns a new buffer.
   * @throws {SrtpError} SRTP_ERR_MALFORMED when shorter than 8 bytes, SRTP_ERR_KEY_EXPIRED past the
   *   key's lifetime or its 2^31 SRTCP indices
   */
  protectRtcp(packet: Uint8Array): Buffer {
    if (packet.length < 8) {
      throw new SrtpError('SRTP_ERR_MALFORMED', `rtcp packet of ${packet.length} bytes`);
    }
    const ssrc = readU32(packet, 4);
    const s = this.#stream(ssrc);
    if (s.rtcpIndex >= MAX_RTCP_INDEX) {
      throw new SrtpError(
        'SRTP_ERR_KEY_EXPIRED',
        `srtcp index space of ssrc ${ssrc} exhausted (2^31 packets)`,
      );
    }
    this.#rtcpLeft = left(this.#rtcpLeft, 'srtcp');
    const index = ++s.rtcpIndex;
    const word = (E_FLAG | index) >>> 0;
    const tag = this.suite.rtcpTagLength;
    const out = Buffer.allocUnsafe(packet.length + 4 + tag);
    out.set(packet, 0);
    if (this.suite.aead) {
      const aad = this.#rtcpAad;
      aad.set(packet.subarray(0, 8), 0);
      aad.writeUInt32BE(word, 8);
      const iv = this.#gcmIv(this.#rtcpSalt, ssrc, index >>> 16, index & 0xffff);
      const c = createCipheriv(this.#gcm, this.#rtcpKey, iv);
      c.setAAD(aad);
      out.set(c.update(packet.subarray(8)), 8);
      c.final();
      c.getAuthTag().copy(out, packet.length);
      out.writeUInt32BE(word, packet.length + tag);
      return out;
    }
    this.#rtcpCipher.crypt(ssrc, index, out, 8, packet.length);
    out.writeUInt32BE(word, packet.length);
    writeTag(this.#rtcpAuth.digest(out, packet.length + 4), out, packet.length + 4, tag);
    return out;
  }

  /**
   * RTCP from an SRTCP packet: authenticated, checked against replay, decrypted in place when the E
   * flag is set. Returns the compound RTCP packet (a view of `packet`).
   * @throws {SrtpError} SRTP_ERR_TRUNCATED, SRTP_ERR_REPLAY, SRTP_ERR_AUTH, SRTP_ERR_KEY_EXPIRED
   */
  unprotectRtcp(packet: Uint8Array): Uint8Array {
    const tagLen = this.suite.rtcpTagLength;
    const aead = this.suite.aead;
    // AES-CM: RTCP || E+index || tag; AES-GCM: RTCP' || tag || E+index.
    const rtcpEnd = packet.length - tagLen - 4;
    if (rtcpEnd < 8) {
      throw new SrtpError('SRTP_ERR_TRUNCATED', `srtcp packet of ${packet.length} bytes`);
    }
    left(this.#rtcpLeft, 'srtcp');
    const ssrc = readU32(packet, 4);
    const wordAt = aead ? packet.length - 4 : rtcpEnd;
    const word = readU32(packet, wordAt);
    const index = word & MAX_RTCP_INDEX;
    const encrypted = (word & E_FLAG) !== 0;
    const s = this.#streams.get(ssrc);
    const r = s?.rtcpReplay.check(index) ?? 'ok';
    if (r !== 'ok') {
      throw new SrtpError('SRTP_ERR_REPLAY', `srtcp packet ${r} (ssrc ${ssrc}, index ${index})`);
    }
    let plain: Buffer | undefined;
    if (aead) {
      const iv = this.#gcmIv(this.#rtcpSalt, ssrc, index >>> 16, index & 0xffff);
      // RFC 7714 §9.2: AAD = first 8 bytes || E+index, or the whole RTCP || E+index when E is clear.
      const aadEnd = encrypted ? 8 : rtcpEnd;
      const aad = Buffer.allocUnsafe(aadEnd + 4);
      aad.set(packet.subarray(0, aadEnd), 0);
      aad.set(packet.subarray(wordAt, wordAt + 4), aadEnd);
      plain = this.#gcmOpen(this.#rtcpKey, iv, packet, aadEnd, rtcpEnd, rtcpEnd, aad);
      if (!plain) {
        throw new SrtpError('SRTP_ERR_AUTH', `srtcp authentication failed (ssrc ${ssrc}, index ${index})`);
      }
    } else {
      const expected = this.#rtcpAuth.digest(packet, rtcpEnd + 4);
      if (!tagEqual(expected, packet, rtcpEnd + 4, tagLen)) {
        throw new SrtpError('SRTP_ERR_AUTH', `srtcp authentication failed (ssrc ${ssrc}, index ${index})`);
      }
    }
    this.#rtcpLeft--;
    this.#stream(ssrc).rtcpReplay.accept(index);
    if (encrypted) {
      if (plain) {
        packet.set(plain, 8);
      } else {
        this.#rtcpCipher.crypt(ssrc, index, packet, 8, rtcpEnd);
      }
    }
    return packet.subarray(0, rtcpEnd);
  }

  /**
   * AES-GCM decryption of `packet[from, to)` with the tag at `to` and AAD `packet[0, from)` (or
   * `aad`): the plaintext in a new buffer, or undefined when the tag does not match. The packet
   * itself is not written.
   */
  #gcmOpen(
    key: KeyObject,
    iv: Buffer,
    packet: Uint8Array,
    from: number,
    to: number,
    tagAt: number,
    aad: Uint8Array = packet.subarray(0, from),
  ): Buffer | undefined {
    const d = createDecipheriv(this.#gcm, key, iv);
    d.setAAD(aad);
    d.setAuthTag(packet.subarray(tagAt, tagAt + GCM_TAG));
    const plain = d.update(packet.subarray(from, to));
    try {
      d.final();
    } catch {
      return undefined;
    }
    return plain;
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

  /**
   * The 12-byte AES-GCM IV (RFC 7714 §8.1, §9.1): (0x0000 || SSRC || `hi` || `lo`) XOR salt, with
   * ROC and SEQ for SRTP, the SRTCP index's high 15 bits and low 16 bits for SRTCP.
   */
  #gcmIv(salt: Buffer, ssrc: number, hi: number, lo: number): Buffer {
    // One buffer for every packet: node:crypto copies the IV when the cipher is created.
    const iv = this.#iv;
    iv[0] = salt[0]!;
    iv[1] = salt[1]!;
    iv[2] = salt[2]! ^ (ssrc >>> 24);
    iv[3] = salt[3]! ^ ((ssrc >>> 16) & 0xff);
    iv[4] = salt[4]! ^ ((ssrc >>> 8) & 0xff);
    iv[5] = salt[5]! ^ (ssrc & 0xff);
    iv[6] = salt[6]! ^ (hi >>> 24);
    iv[7] = salt[7]! ^ ((hi >>> 16) & 0xff);
    iv[8] = salt[8]! ^ ((hi >>> 8) & 0xff);
    iv[9] = salt[9]! ^ (hi & 0xff);
    iv[10] = salt[10]! ^ (lo >>> 8);
    iv[11] = salt[11]! ^ (lo & 0xff);
    return iv;
  }

  /** HMAC-SHA1(auth key, packet || ROC) of the first `length` bytes of `packet` (RFC 3711 §4.2). */
  #rtpTag(packet: Uint8Array, length: number, roc: number): string {
    const b = this.#roc;
    b[0] = roc >>> 24;
    b[1] = (roc >>> 16) & 0xff;
    b[2] = (roc >>> 8) & 0xff;
    b[3] = roc & 0xff;
    return this.#rtpAuth.digest(packet, length, this.#roc);
  }
}

/**
 * `n` − 1: one packet more under the master key.
 * @throws {SrtpError} SRTP_ERR_KEY_EXPIRED when its lifetime is used up (`n` is 0)
 */
function left(n: number, what: 'srtp' | 'srtcp'): number {
  if (n <= 0) {
    throw new SrtpError('SRTP_ERR_KEY_EXPIRED', `${what} master key lifetime used up: packet refused`);
  }
  return n - 1;
}

/**
 * The first `length` bytes of the HMAC `expected` (a latin1 string) against the tag at `at` of
 * `packet`, in time independent of where they differ (as timingSafeEqual, without its views).
 */
function tagEqual(expected: string, packet: Uint8Array, at: number, length: number): boolean {
  let diff = 0;
  for (let i = 0; i < length; i++) {
    diff |= expected.charCodeAt(i) ^ packet[at + i]!;
  }
  return diff === 0;
}

/** The first `length` bytes of the HMAC `tag` (a latin1 string) written into `out` at `at`. */
function writeTag(tag: string, out: Uint8Array, at: number, length: number): void {
  for (let i = 0; i < length; i++) {
    out[at + i] = tag.charCodeAt(i);
  }
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
