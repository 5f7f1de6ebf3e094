/**
 * The SRTP crypto suites we implement (RFC 4568 §6.2, RFC 6188 §6, RFC 7714 §14.2): AES in counter
 * mode with a 128-bit or 256-bit key and HMAC-SHA1 authentication, the SRTP tag 80 or 32 bits
 * (SRTCP always 80 bits), and AES-256 and AES-128 in Galois/Counter Mode (AEAD, a 128-bit tag on
 * SRTP and SRTCP).
 */

export type SrtpSuiteName =
  | 'AEAD_AES_256_GCM'
  | 'AEAD_AES_128_GCM'
  | 'AES_256_CM_HMAC_SHA1_80'
  | 'AES_CM_128_HMAC_SHA1_80'
  | 'AES_256_CM_HMAC_SHA1_32'
  | 'AES_CM_128_HMAC_SHA1_32';

export interface SrtpSuite {
  readonly name: SrtpSuiteName;
  /** AES-GCM (RFC 7714): encryption and authentication in one pass, no HMAC key. */
  readonly aead: boolean;
  /** Master key length in bytes (AES-128 or AES-256); the session encryption key is as long. */
  readonly keyLength: 16 | 32;
  /** Master salt length in bytes: 112 bits (AES-CM), 96 bits (AES-GCM); the session salt is as long. */
  readonly saltLength: 14 | 12;
  /** SRTP authentication tag length in bytes. */
  readonly rtpTagLength: number;
  /** SRTCP authentication tag length in bytes. */
  readonly rtcpTagLength: number;
}

/**
 * Strongest first: the order in which an answer picks among the offered suites. AES-GCM leads, the
 * 256-bit key before the 128-bit one: an AEAD whose 128-bit tag covers header and payload (RFC 7714
 * §1), above HMAC-SHA1's 80 bits,
 * though it costs more CPU here (`npm run bench -- srtp`: node:crypto needs a cipher object per
 * GCM packet, AES-CM needs none); then the 80-bit HMAC tag, then the 32-bit one (RFC 4568 §6.2.1),
 * each with the 256-bit key (RFC 6188) before the 128-bit one. The tag length ranks above the key
 * length: a 128-bit key is already out of reach of a search, while a 32-bit tag lets one forged
 * packet in about 2^32 through; so `AES_256_CM_HMAC_SHA1_32` comes after `AES_CM_128_HMAC_SHA1_80`
 * (pjsip ranks both AES-256 suites first; the two orders differ only when a peer offers that pair
 * without `AES_256_CM_HMAC_SHA1_80`).
 */
export const SRTP_SUITES: readonly SrtpSuite[] = [
  {
    name: 'AEAD_AES_256_GCM',
    aead: true,
    keyLength: 32,
    saltLength: 12,
    rtpTagLength: 16,
    rtcpTagLength: 16,
  },
  {
    name: 'AEAD_AES_128_GCM',
    aead: true,
    keyLength: 16,
    saltLength: 12,
    rtpTagLength: 16,
    rtcpTagLength: 16,
  },
  {
    name: 'AES_256_CM_HMAC_SHA1_80',
    aead: false,
    keyLength: 32,
    saltLength: 14,
    rtpTagLength: 10,
    rtcpTagLength: 10,
  },
  {
    name: 'AES_CM_128_HMAC_SHA1_80',
    aead: false,
    keyLength: 16,
    saltLength: 14,
    rtpTagLength: 10,
    rtcpTagLength: 10,
  },
  {
    name: 'AES_256_CM_HMAC_SHA1_32',
    aead: false,
    keyLength: 32,
    saltLength: 14,
    rtpTagLength: 4,
    rtcpTagLength: 10,
  },
  {
    name: 'AES_CM_128_HMAC_SHA1_32',
    aead: false,
    keyLength: 16,
    saltLength: 14,
    rtpTagLength: 4,
    rtcpTagLength: 10,
  },
];

/** The suite of that name, or undefined when we do not implement it. */
export function srtpSuite(name: string): SrtpSuite | undefined {
  return SRTP_SUITES.find((s) => s.name === name);
}
