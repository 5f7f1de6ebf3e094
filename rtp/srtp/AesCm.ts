import { createCipheriv, type Cipher } from 'node:crypto';

/**
 * AES-128 in counter mode as SRTP uses it (RFC 3711 §4.1.1): the keystream of a packet is
 * AES(IV), AES(IV + 1), … with the block counter in the IV's low 16 bits. One long-lived AES-ECB
 * cipher from node:crypto encrypts the counter blocks of a packet in one call: no cipher object is
 * created per packet, and the AES itself is OpenSSL's.
 */
export class AesCm {
  readonly #ecb: Cipher;
  #blocks = Buffer.alloc(0);

  constructor(key: Uint8Array) {
    this.#ecb = createCipheriv('aes-128-ecb', key, null);
    this.#ecb.setAutoPadding(false);
  }

  /** `length` bytes of keystream from the 16-byte `iv` (whose low 16 bits are the block counter 0). */
  keystream(iv: Uint8Array, length: number): Buffer {
    const n = Math.ceil(length / 16);
    if (this.#blocks.length < n * 16) {
      this.#blocks = Buffer.alloc(n * 16);
    }
    const blocks = this.#blocks;
    for (let j = 0; j < n; j++) {
      const o = j * 16;
      blocks.set(iv, o);
      blocks[o + 14] = (iv[14]! + (j >>> 8)) & 0xff;
      blocks[o + 15] = j & 0xff;
    }
    return this.#ecb.update(blocks.subarray(0, n * 16));
  }

  /** XORs the keystream from `iv` into `data` in place (encryption and decryption alike). */
  apply(iv: Uint8Array, data: Uint8Array): void {
    const ks = this.keystream(iv, data.length);
    for (let i = 0; i < data.length; i++) {
      data[i]! ^= ks[i]!;
    }
  }
}
