import { createCipheriv, type Cipher } from 'node:crypto';

/**
 * AES-128 or AES-256 (RFC 6188 §3) in counter mode as SRTP uses it (RFC 3711 §4.1.1): the keystream of a packet is
 * AES(IV), AES(IV + 1), … with the block counter in the IV's low 16 bits, and IV = (k_s · 2^16) XOR
 * (SSRC · 2^64) XOR (index · 2^16). One long-lived AES-ECB cipher from node:crypto encrypts the
 * counter blocks: no cipher object is created per packet, and the AES itself is OpenSSL's.
 *
 * {@link crypt} computes the keystream of `prefetch` consecutive indices of an SSRC in one ECB
 * call and keeps it, so the packets that follow in order find theirs ready: one call into
 * node:crypto per `prefetch` packets instead of one per packet. The keystream is a function of the
 * key, salt, SSRC and index alone, so this changes no byte; it is computed only for a packet that
 * already authenticated (receive) or is being sent.
 */
export class AesCm {
  readonly #ecb: Cipher;
  readonly #salt: Uint8Array;
  readonly #prefetch: number;
  /** Counter blocks handed to the ECB cipher (reused). */
  #blocks = Buffer.alloc(0);
  /** The keystream of `#ksCount` indices from `#ksFrom` of `#ksSsrc`, `#ksBlocks` blocks each. */
  #ks = Buffer.alloc(0);
  #ksSsrc = -1;
  #ksFrom = 0;
  #ksCount = 0;
  #ksBlocks = 0;
  /** The IV of the index being computed, bytes 0–13. */
  readonly #iv = new Uint8Array(14);

  /**
   * @param key the session encryption key (16 bytes; 32 for AES-256)
   * @param salt the session salt (14 bytes; 12 bytes padded with zeros), for {@link crypt}
   * @param prefetch how many consecutive indices {@link crypt} computes at once
   */
  constructor(key: Uint8Array, salt: Uint8Array = new Uint8Array(14), prefetch = 1) {
    this.#ecb = createCipheriv(key.length === 32 ? 'aes-256-ecb' : 'aes-128-ecb', key, null);
    this.#ecb.setAutoPadding(false);
    this.#salt = salt;
    this.#prefetch = prefetch;
  }

  /** `length` bytes of keystream from the 16-byte `iv` (whose low 16 bits are the block counter 0). */
  keystream(iv: Uint8Array, length: number): Buffer {
    const n = Math.ceil(length / 16);
    const blocks = this.#counterBlocks(n);
    for (let j = 0; j < n; j++) {
      const o = j * 16;
      blocks.set(iv, o);
      blocks[o + 14] = (iv[14]! + (j >>> 8)) & 0xff;
      blocks[o + 15] = j & 0xff;
    }
    return this.#ecb.update(blocks.subarray(0, n * 16));
  }

  /**
   * XORs the keystream of packet `index` (SRTP: ROC · 2^16 + SEQ; SRTCP: its index) of `ssrc` into
   * `data` in place: encryption and decryption alike.
   */
  crypt(ssrc: number, index: number, data: Uint8Array): void {
    const n = Math.ceil(data.length / 16);
    if (n === 0) {
      return;
    }
    if (
      ssrc !== this.#ksSsrc ||
      index < this.#ksFrom ||
      index >= this.#ksFrom + this.#ksCount ||
      n > this.#ksBlocks
    ) {
      this.#fill(ssrc, index, n);
    }
    const ks = this.#ks;
    const at = (index - this.#ksFrom) * this.#ksBlocks * 16;
    for (let i = 0; i < data.length; i++) {
      data[i]! ^= ks[at + i]!;
    }
  }

  /** The keystream of indices `from` … `from + prefetch − 1` of `ssrc`, `n` blocks each. */
  #fill(ssrc: number, from: number, n: number): void {
    const count = this.#prefetch;
    const blocks = this.#counterBlocks(count * n);
    // The IV without its block counter: salt XOR SSRC in bytes 4–7, XOR the index in bytes 8–13.
    const iv = this.#iv;
    iv.set(this.#salt.subarray(0, 14));
    for (let b = 0; b < 4; b++) {
      iv[4 + b]! ^= (ssrc >>> (24 - 8 * b)) & 0xff;
    }
    for (let k = 0; k < count; k++) {
      const index = from + k;
      const hi = Math.floor(index / 0x100000000);
      const ix = [
        (hi >>> 8) & 0xff,
        hi & 0xff,
        index >>> 24,
        (index >>> 16) & 0xff,
        (index >>> 8) & 0xff,
        index & 0xff,
      ];
      for (let b = 0; b < 6; b++) {
        iv[8 + b] = (this.#salt[8 + b] ?? 0) ^ ix[b]!;
      }
      for (let j = 0; j < n; j++) {
        const o = (k * n + j) * 16;
        for (let b = 0; b < 14; b++) {
          blocks[o + b] = iv[b]!;
        }
        blocks[o + 14] = j >>> 8;
        blocks[o + 15] = j & 0xff;
      }
    }
    this.#ks = this.#ecb.update(blocks.subarray(0, count * n * 16));
    this.#ksSsrc = ssrc;
    this.#ksFrom = from;
    this.#ksCount = count;
    this.#ksBlocks = n;
  }

  #counterBlocks(n: number): Buffer {
    if (this.#blocks.length < n * 16) {
      this.#blocks = Buffer.alloc(n * 16);
    }
    return this.#blocks;
  }
}
