/**
 * AES_256_CM_HMAC_SHA1_80 and AES_256_CM_HMAC_SHA1_32 (RFC 6188): AES-256 in counter mode for the
 * keystream and the key derivation, HMAC-SHA1 as in the 128-bit suites. References: RFC 6188 §7.1
 * (keystream; its first three blocks as libre's test/srtp.c `test_srtp_aescm256` reproduces them,
 * blocks 0xFEFF–0xFF01 as other public test suites citing §7.1 do), §7.2 (key derivation, tested in
 * SrtpGcm.test.ts), and libsrtp's reference packet for this suite (test/srtp_driver.c
 * `srtp_validate_aes_256`, whose master key and salt are those of §7.2).
 */
import { createCipheriv, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AesCm } from '../../../rtp/srtp/AesCm.js';
import { deriveSessionKeys } from '../../../rtp/srtp/kdf.js';
import { SrtpContext } from '../../../rtp/srtp/SrtpContext.js';
import { code } from './srtpErrorCode.js';
import { SRTP_SUITES, srtpSuite } from '../../../rtp/srtp/suites.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const CM256_80 = srtpSuite('AES_256_CM_HMAC_SHA1_80')!;
const CM256_32 = srtpSuite('AES_256_CM_HMAC_SHA1_32')!;

// RFC 6188 §7.2's master key and salt; libsrtp srtp_validate_aes_256(): SSRC 0xcafebabe, seq 0x1234.
const MASTER = Buffer.concat([
  hex('f0f04914b513f2763a1b1fa130f10e29 98f6f6e43e4309d1e622a0e332b9f1b6'),
  hex('3b04803de51ee7c96423ab5b78d2'),
]);
const RTP_PLAIN = hex('800f1234decafbadcafebabe' + 'ab'.repeat(16));
const RTP_PROTECTED = hex('800f1234decafbadcafebabe f1d9de17ff251ff1aa007774b0b4b40d a08d9d9a5b3a55d8873b');

function rtp(seq: number, ssrc: number, payload: Uint8Array = Buffer.alloc(160, 0xd5)): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(seq * 160, 4);
  b.writeUInt32BE(ssrc, 8);
  b.set(payload, 12);
  return b;
}

describe('AES_256_CM_HMAC_SHA1 suites (RFC 6188)', () => {
  it('suites: 32-byte key, 14-byte salt, SRTP tag 10 or 4 bytes, SRTCP 10; ranked after AES-GCM', () => {
    expect(CM256_80).toMatchObject({
      aead: false,
      keyLength: 32,
      saltLength: 14,
      rtpTagLength: 10,
      rtcpTagLength: 10,
    });
    expect(CM256_32).toMatchObject({
      aead: false,
      keyLength: 32,
      saltLength: 14,
      rtpTagLength: 4,
      rtcpTagLength: 10,
    });
    expect(SRTP_SUITES.map((s) => s.name)).toEqual([
      'AEAD_AES_256_GCM',
      'AEAD_AES_128_GCM',
      'AES_256_CM_HMAC_SHA1_80',
      'AES_CM_128_HMAC_SHA1_80',
      'AES_256_CM_HMAC_SHA1_32',
      'AES_CM_128_HMAC_SHA1_32',
    ]);
  });

  it('RFC 6188 §7.1: the AES-256-CM keystream, first blocks and blocks 0xFEFF–0xFF01', () => {
    const aes = new AesCm(hex('57f82fe3613fd170a85ec93c40b1f092 2ec4cb0dc025b58272147cc438944a98'));
    const ks = aes.keystream(hex('f0f1f2f3f4f5f6f7f8f9fafbfcfd0000'), 0xff02 * 16);
    expect(ks.subarray(0, 48).toString('hex')).toBe(
      '92bdd28a93c3f52511c677d08b5515a4' +
        '9da71b2378a854f67050756ded165bac' +
        '63c4868b7096d88421b563b8c94c9a31',
    );
    expect(ks.subarray(0xfeff * 16).toString('hex')).toBe(
      'cea518c90fd91ced9cbb18c078a54711' +
        '3dbc4814f4da5f00a08772b63c6a046d' +
        '6eb246913062a16891433e97dd01a57f',
    );
  });

  it('libsrtp reference packet (srtp_validate_aes_256): protects and unprotects', () => {
    const tx = new SrtpContext(CM256_80, MASTER);
    expect(tx.protectRtp(RTP_PLAIN).toString('hex')).toBe(RTP_PROTECTED.toString('hex'));
    const rx = new SrtpContext(CM256_80, MASTER);
    expect(Buffer.from(rx.unprotectRtp(Buffer.from(RTP_PROTECTED))).toString('hex')).toBe(
      RTP_PLAIN.toString('hex'),
    );
    // The 128-bit suite under the first 30 bytes of the same key does not authenticate it.
    const cm128 = new SrtpContext(srtpSuite('AES_CM_128_HMAC_SHA1_80')!, MASTER.subarray(0, 30));
    expect(code(() => cm128.unprotectRtp(Buffer.from(RTP_PROTECTED)))).toBe('SRTP_ERR_AUTH');
  });

  it('the 32-bit suite: same ciphertext, the first 4 bytes of the HMAC as the SRTP tag', () => {
    const p = new SrtpContext(CM256_32, MASTER).protectRtp(RTP_PLAIN);
    expect(p.toString('hex')).toBe(RTP_PROTECTED.subarray(0, RTP_PROTECTED.length - 6).toString('hex'));
    expect(Buffer.from(new SrtpContext(CM256_32, MASTER).unprotectRtp(p)).equals(RTP_PLAIN)).toBe(true);
  });

  it('SRTCP: AES-256-CTR over the RFC 3711 IV with the RTCP session keys, E flag and index, 80-bit HMAC tag', () => {
    const rtcp = hex('81c8000bcafebabe' + 'ab'.repeat(16));
    const k = deriveSessionKeys(MASTER.subarray(0, 32), MASTER.subarray(32));
    expect(k.rtcpEncryption).toHaveLength(32);
    for (const suite of [CM256_80, CM256_32]) {
      const p = new SrtpContext(suite, MASTER).protectRtcp(rtcp);
      // Independent reference: node:crypto's AES-256-CTR from IV = salt XOR SSRC XOR index 1.
      const iv = Buffer.alloc(16);
      k.rtcpSalt.copy(iv);
      iv.writeUInt32BE((iv.readUInt32BE(4) ^ 0xcafebabe) >>> 0, 4);
      iv[13]! ^= 1;
      const body = createCipheriv('aes-256-ctr', k.rtcpEncryption, iv).update(rtcp.subarray(8));
      const signed = Buffer.concat([rtcp.subarray(0, 8), body, hex('80000001')]);
      const tag = createHmac('sha1', k.rtcpAuth).update(signed).digest().subarray(0, 10);
      expect(p.toString('hex')).toBe(Buffer.concat([signed, tag]).toString('hex'));
      expect(Buffer.from(new SrtpContext(suite, MASTER).unprotectRtcp(p)).equals(rtcp)).toBe(true);
    }
  });

  it('a 46-byte inline key is the master key and salt; 30 or 44 bytes are refused', () => {
    expect(() => new SrtpContext(CM256_80, Buffer.alloc(30))).toThrow(/46 bytes/);
    expect(() => new SrtpContext(CM256_32, Buffer.alloc(44))).toThrow(/46 bytes/);
  });

  it.each([CM256_80, CM256_32])(
    '$name: round trip across a sequence wrap with reordering; replay and tampering refused, the packet untouched',
    (suite) => {
      const tx = new SrtpContext(suite, MASTER);
      const rx = new SrtpContext(suite, MASTER);
      const ssrc = 0x5eed;
      const seqs = [0xfffd, 0xfffe, 0xffff, 0, 1, 2];
      const pkts = seqs.map((s) => tx.protectRtp(rtp(s, ssrc)));
      expect(pkts[0]).toHaveLength(12 + 160 + suite.rtpTagLength);
      for (const i of [0, 3, 2, 4, 1, 5]) {
        expect(Buffer.from(rx.unprotectRtp(Buffer.from(pkts[i]!))).equals(rtp(seqs[i]!, ssrc))).toBe(true);
      }
      expect(rx.rolloverCounter(ssrc)).toBe(1);
      expect(code(() => rx.unprotectRtp(Buffer.from(pkts[4]!)))).toBe('SRTP_ERR_REPLAY');
      for (const at of [1, 9, 12, 100, 12 + 160 + suite.rtpTagLength - 1]) {
        const bad = tx.protectRtp(rtp(10 + at, ssrc));
        bad[at]! ^= 0x01;
        const copy = Buffer.from(bad);
        expect(code(() => rx.unprotectRtp(bad))).toBe('SRTP_ERR_AUTH');
        expect(bad.equals(copy)).toBe(true);
      }
      const rr = hex('80c90001 00005eed');
      const srtcp = tx.protectRtcp(rr);
      expect(Buffer.from(rx.unprotectRtcp(Buffer.from(srtcp))).equals(rr)).toBe(true);
      expect(code(() => rx.unprotectRtcp(Buffer.from(srtcp)))).toBe('SRTP_ERR_REPLAY');
      const forged = tx.protectRtcp(rr);
      forged[10]! ^= 0x80;
      expect(code(() => rx.unprotectRtcp(forged))).toBe('SRTP_ERR_AUTH');
    },
  );
});
