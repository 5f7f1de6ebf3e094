import { createCipheriv } from 'node:crypto';

/** Key derivation labels (RFC 3711 §4.3.2). */
const LABEL = {
  rtpEncryption: 0,
  rtpAuth: 1,
  rtpSalt: 2,
  rtcpEncryption: 3,
  rtcpAuth: 4,
  rtcpSalt: 5,
} as const;

/** The session keys of one direction, derived from a master key and salt. */
export interface SessionKeys {
  rtpEncryption: Buffer;
  rtpAuth: Buffer;
  rtpSalt: Buffer;
  rtcpEncryption: Buffer;
  rtcpAuth: Buffer;
  rtcpSalt: Buffer;
}

/**
 * The AES-CM PRF of RFC 3711 §4.3.3 with a key derivation rate of 0 (the SDES default): `length`
 * bytes of AES counter-mode keystream under the master key (AES-128, or AES-256 for a 256-bit
 * master key as RFC 6188 §7 and RFC 7714 §11 say), starting at IV = (master salt XOR (label << 48))
 * · 2^16.
 */
function deriveKey(masterKey: Uint8Array, masterSalt: Uint8Array, label: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.set(masterSalt.subarray(0, 14));
  iv[7]! ^= label;
  const cipher = createCipheriv(`aes-${masterKey.length * 8}-ctr`, masterKey, iv);
  return cipher.update(Buffer.alloc(length));
}

/**
 * All six session keys (RFC 3711 §4.3.1): encryption keys as long as the master key (128 or 256
 * bits), 160-bit auth keys, salts as long as the master salt. A 96-bit master salt (AES-GCM, RFC 7714 §11) takes the PRF's 112-bit place
 * followed by 16 zero bits, and gives 96-bit session salts; AES-GCM has no use for the auth keys.
 */
export function deriveSessionKeys(masterKey: Uint8Array, masterSalt: Uint8Array): SessionKeys {
  const saltLength = masterSalt.length;
  return {
    rtpEncryption: deriveKey(masterKey, masterSalt, LABEL.rtpEncryption, masterKey.length),
    rtpAuth: deriveKey(masterKey, masterSalt, LABEL.rtpAuth, 20),
    rtpSalt: deriveKey(masterKey, masterSalt, LABEL.rtpSalt, saltLength),
    rtcpEncryption: deriveKey(masterKey, masterSalt, LABEL.rtcpEncryption, masterKey.length),
    rtcpAuth: deriveKey(masterKey, masterSalt, LABEL.rtcpAuth, 20),
    rtcpSalt: deriveKey(masterKey, masterSalt, LABEL.rtcpSalt, saltLength),
  };
}
