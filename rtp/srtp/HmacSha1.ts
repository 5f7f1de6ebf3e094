import { hash } from 'node:crypto';

/** SHA-1's block length in bytes (the HMAC key pads are one block, RFC 2104 §2). */
const BLOCK = 64;
/** SHA-1's output length in bytes. */
const DIGEST = 20;

/**
 * HMAC-SHA1 (RFC 2104) under one key, as SRTP authenticates (RFC 3711 §4.2): H(K ⊕ opad ‖ H(K ⊕
 * ipad ‖ message)), both hashes one-shot calls of node:crypto's `hash()` over buffers that already
 * hold the key pads, the digests returned as 'binary' (latin1) strings (one char per byte). No object and no
 * Buffer is created per message: `createHmac` makes an object per packet, and `hash()` with a
 * Buffer result takes about three times as long as with a string (`npm run bench -- srtp`). The
 * SHA-1 itself is OpenSSL's.
 */
export class HmacSha1 {
  /** K ⊕ ipad, then the message (and its suffix); grown to the longest message seen. */
  #inner = Buffer.alloc(BLOCK + 1500);
  /** `#inner` up to the end of the last message (reused while the length stays). */
  #innerView = this.#inner.subarray(0, 0);
  /** K ⊕ opad, then the inner digest. */
  readonly #outer = Buffer.alloc(BLOCK + DIGEST);

  /** @param key the authentication key, at most one block (SRTP's: 160 bits) */
  constructor(key: Uint8Array) {
    if (key.length > BLOCK) {
      throw new RangeError(`HMAC-SHA1 key of ${key.length} bytes: at most ${BLOCK}`);
    }
    for (let i = 0; i < BLOCK; i++) {
      const k = key[i] ?? 0;
      this.#inner[i] = k ^ 0x36;
      this.#outer[i] = k ^ 0x5c;
    }
  }

  /**
   * The HMAC of the first `length` bytes of `message` followed by `suffix` (SRTP: the packet, then
   * the ROC): 20 bytes as a 'binary' (latin1) string, byte `i` being `charCodeAt(i)`.
   */
  digest(message: Uint8Array, length: number, suffix?: Uint8Array): string {
    const extra = suffix === undefined ? 0 : suffix.length;
    const total = BLOCK + length + extra;
    let inner = this.#inner;
    if (inner.length < BLOCK + message.length + extra) {
      const grown = Buffer.alloc(BLOCK + message.length + extra);
      inner.copy(grown, 0, 0, BLOCK);
      this.#inner = inner = grown;
      this.#innerView = grown.subarray(0, 0);
    }
    // The whole message (no view of its first `length` bytes): what lies past them is not hashed,
    // or is overwritten by the suffix.
    inner.set(message, BLOCK);
    for (let i = 0; i < extra; i++) {
      inner[BLOCK + length + i] = suffix![i]!;
    }
    if (this.#innerView.length !== total) {
      this.#innerView = inner.subarray(0, total);
    }
    const h = hash('sha1', this.#innerView, 'binary');
    const outer = this.#outer;
    for (let i = 0; i < DIGEST; i++) {
      outer[BLOCK + i] = h.charCodeAt(i);
    }
    return hash('sha1', outer, 'binary');
  }
}
