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
 * already authenticated (receive) or is being sent. The counter blocks are kept between calls too:
 * only their index bytes change from one call to the next (all of them for a new SSRC or length).
 */
export class AesCm {
  readonly #ecb: Cipher;
  /** The session salt, 14 bytes (a 12-byte salt padded with zeros). */
  readonly #salt = new Uint8Array(14);
  readonly #prefetch: number;
  /** Counter blocks handed to the ECB cipher (reused), and the view of the last call's. */
  #blocks = Buffer.alloc(0);
  #blocksView = this.#blocks;
  /** What `#blocks` holds besides the index bytes: the SSRC's bytes and `#blocksN` blocks per index. */
  #blocksSsrc = -1;
  #blocksN = 0;
  /** The keystream of `#ksCount` indices from `#ksFrom` of `#ksSsrc`, `#ksBlocks` blocks each. */
  #ks: Uint8Array = new Uint8Array(0);
  /** The same as 32-bit words (undefined if node:crypto ever returns it unaligned). */
  #ksWords: Int32Array | undefined;
  #ksSsrc = -1;
  #ksFrom = 0;
  #ksCount = 0;
  #ksBlocks = 0;

  /**
   * @param key the session encryption key (16 bytes; 32 for AES-256)
   * @param salt the session salt (14 bytes; 12 bytes padded with zeros), for {@link crypt}
   * @param prefetch how many consecutive indices {@link crypt} computes at once
   */
  constructor(key: Uint8Array, salt: Uint8Array = new Uint8Array(14), prefetch = 1) {
    this.#ecb = createCipheriv(key.length === 32 ? 'aes-256-ecb' : 'aes-128-ecb', key, null);
    this.#ecb.setAutoPadding(false);
    this.#salt.set(salt.subarray(0, 14));
    this.#prefetch = prefetch;
  }

  /** `length` bytes of keystream from the 16-byte `iv` (whose low 16 bits are the block counter 0). */
  keystream(iv: Uint8Array, length: number): Buffer {
    const n = Math.ceil(length / 16);
    const blocks = Buffer.alloc(n * 16);
    for (let j = 0; j < n; j++) {
      const o = j * 16;
      blocks.set(iv, o);
      blocks[o + 14] = (iv[14]! + (j >>> 8)) & 0xff;
      blocks[o + 15] = j & 0xff;
    }
    return this.#ecb.update(blocks);
  }

  /**
   * XORs the keystream of packet `index` (SRTP: ROC · 2^16 + SEQ; SRTCP: its index) of `ssrc` into
   * `data[from, to)` in place (the payload of a packet, without a view of it): encryption and
   * decryption alike.
   */
  crypt(ssrc: number, index: number, data: Uint8Array, from = 0, to = data.length): void {
    const n = (to - from + 15) >>> 4;
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
    let i = from;
    let k = (index - this.#ksFrom) * this.#ksBlocks * 16;
    const words = this.#ksWords;
    const at = data.byteOffset + from;
    if (words !== undefined && (at & 3) === 0 && to - from >= 16) {
      // Four bytes at a time (about three times fewer instructions than per byte); `k` is a
      // multiple of 16, and XOR is the same whatever the byte order of the words.
      const view = new Int32Array(data.buffer, at, (to - from) >>> 2);
      for (let w = 0, kw = k >>> 2; w < view.length; w++, kw++) {
        view[w]! ^= words[kw]!;
      }
      i += view.length * 4;
      k += view.length * 4;
    }
    const ks = this.#ks;
    for (; i < to; i++, k++) {
      data[i]! ^= ks[k]!;
    }
  }

  /** The keystream of indices `from` … `from + prefetch − 1` of `ssrc`, `n` blocks each. */
  #fill(ssrc: number, from: number, n: number): void {
    const count = this.#prefetch;
    const size = count * n * 16;
    const salt = this.#salt;
    let blocks = this.#blocks;
    if (blocks.length < size) {
      this.#blocks = blocks = Buffer.alloc(size);
      this.#blocksView = blocks;
      this.#blocksSsrc = -1;
    }
    if (ssrc !== this.#blocksSsrc || n !== this.#blocksN) {
      // What does not depend on the index: bytes 0–7 (salt XOR SSRC) and the block counter (14–15).
      const s4 = salt[4]! ^ (ssrc >>> 24);
      const s5 = salt[5]! ^ ((ssrc >>> 16) & 0xff);
      const s6 = salt[6]! ^ ((ssrc >>> 8) & 0xff);
      const s7 = salt[7]! ^ (ssrc & 0xff);
      for (let b = 0, o = 0; b < count * n; b++, o += 16) {
        const j = b % n;
        blocks[o] = salt[0]!;
        blocks[o + 1] = salt[1]!;
        blocks[o + 2] = salt[2]!;
        blocks[o + 3] = salt[3]!;
        blocks[o + 4] = s4;
        blocks[o + 5] = s5;
        blocks[o + 6] = s6;
        blocks[o + 7] = s7;
        blocks[o + 14] = j >>> 8;
        blocks[o + 15] = j & 0xff;
      }
      this.#blocksSsrc = ssrc;
      this.#blocksN = n;
    }
    // Bytes 8–13: salt XOR the 48-bit index.
    for (let k = 0, o = 0; k < count; k++) {
      const index = from + k;
      const hi = Math.floor(index / 0x100000000);
      const lo = index >>> 0;
      const b8 = salt[8]! ^ ((hi >>> 8) & 0xff);
      const b9 = salt[9]! ^ (hi & 0xff);
      const b10 = salt[10]! ^ (lo >>> 24);
      const b11 = salt[11]! ^ ((lo >>> 16) & 0xff);
      const b12 = salt[12]! ^ ((lo >>> 8) & 0xff);
      const b13 = salt[13]! ^ (lo & 0xff);
      for (let j = 0; j < n; j++, o += 16) {
        blocks[o + 8] = b8;
        blocks[o + 9] = b9;
        blocks[o + 10] = b10;
        blocks[o + 11] = b11;
        blocks[o + 12] = b12;
        blocks[o + 13] = b13;
      }
    }
    if (this.#blocksView.length !== size) {
      this.#blocksView = blocks.subarray(0, size);
    }
    const ks = this.#ecb.update(this.#blocksView);
    this.#ks = ks;
    this.#ksWords =
      (ks.byteOffset & 3) === 0 ? new Int32Array(ks.buffer, ks.byteOffset, ks.length >>> 2) : undefined;
    this.#ksSsrc = ssrc;
    this.#ksFrom = from;
    this.#ksCount = count;
    this.#ksBlocks = n;
  }
}
