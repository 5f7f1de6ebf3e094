/**
 * The SRTP crypto suites we implement (RFC 4568 §6.2): AES in counter mode with a 128-bit key and
 * HMAC-SHA1 authentication, the SRTP tag 80 or 32 bits (SRTCP always 80 bits).
 */

export type SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32';

export interface SrtpSuite {
  readonly name: SrtpSuiteName;
  /** Master key length in bytes (AES-128). */
  readonly keyLength: 16;
  /** Master salt length in bytes (112 bits). */
  readonly saltLength: 14;
  /** SRTP authentication tag length in bytes. */
  readonly rtpTagLength: number;
  /** SRTCP authentication tag length in bytes. */
  readonly rtcpTagLength: number;
}

/** Strongest first: the order in which an answer picks among the offered suites. */
export const SRTP_SUITES: readonly SrtpSuite[] = [
  { name: 'AES_CM_128_HMAC_SHA1_80', keyLength: 16, saltLength: 14, rtpTagLength: 10, rtcpTagLength: 10 },
  { name: 'AES_CM_128_HMAC_SHA1_32', keyLength: 16, saltLength: 14, rtpTagLength: 4, rtcpTagLength: 10 },
];

/** The suite of that name, or undefined when we do not implement it. */
export function srtpSuite(name: string): SrtpSuite | undefined {
  return SRTP_SUITES.find((s) => s.name === name);
}
