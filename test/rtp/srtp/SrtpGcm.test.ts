import { createDecipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveSessionKeys, type SessionKeys } from '../../../rtp/srtp/kdf.js';
import { SrtpContext } from '../../../rtp/srtp/SrtpContext.js';
import { code } from './srtpErrorCode.js';
import { SRTP_SUITES, srtpSuite } from '../../../rtp/srtp/suites.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const GCM = srtpSuite('AEAD_AES_128_GCM')!;

// RFC 7714 §16 and §17 state the AEAD key and salt (session key and session salt), not a master key.
const KEY = hex('000102030405060708090a0b0c0d0e0f');
const SALT = hex('517569642070726f2071756f'); // "Quid pro quo"
const SESSION: SessionKeys = {
  rtpEncryption: KEY,
  rtpSalt: SALT,
  rtcpEncryption: KEY,
  rtcpSalt: SALT,
  rtpAuth: Buffer.alloc(20),
  rtcpAuth: Buffer.alloc(20),
};

// RFC 7714 §16.1 (AEAD_AES_128_GCM SRTP): sequence number 0xf17b, SSRC 0x5501a0b2, ROC 0,
// "Gallia est omnis divisa in partes tres".
const RTP_PLAIN = hex(`8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976
  69736120 696e2070 61727465 73207472 6573`);
const RTP_PROTECTED = hex(`8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca
  be633bd5 0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce`);

// RFC 7714 §17.1 (AEAD_AES_128_GCM SRTCP): SSRC 0x4d617273, SRTCP index 0x5d4.
const RTCP_PLAIN = hex(`81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
  deadbeef deadbeef deadbeef deadbeef deadbeef`);
const RTCP_PROTECTED = hex(`81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7
  6c06f32d c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872 45d9eade 800005d4`);
// The same packet unencrypted (E = 0): RTCP in clear, the tag over all of it, then the index.
const RTCP_TAGGED = hex(`81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
  deadbeef deadbeef deadbeef deadbeef deadbeef 841dd968 3dd78ec9 2ae58790 125f62b3 000005d4`);

function rtp(seq: number, ssrc: number, payload: Uint8Array = Buffer.alloc(160, 0x55)): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(seq * 160, 4);
  b.writeUInt32BE(ssrc, 8);
  b.set(payload, 12);
  return b;
}

/** A sender whose SRTCP index for SSRC 0x4d617273 is at 0x5d3 (the vector's packet is the next). */
function rtcpSenderAt0x5d3(suite = GCM, session = SESSION): SrtpContext {
  const tx = new SrtpContext(suite, session);
  const rr = hex('80c90001 4d617273');
  for (let i = 0; i < 0x5d3; i++) {
    tx.protectRtcp(rr);
  }
  return tx;
}

describe('AEAD_AES_128_GCM against RFC 7714', () => {
  it('suite: 16-byte key, 12-byte salt, 16-byte tags on SRTP and SRTCP (§14.1)', () => {
    expect(GCM).toMatchObject({
      aead: true,
      keyLength: 16,
      saltLength: 12,
      rtpTagLength: 16,
      rtcpTagLength: 16,
    });
  });

  it('§16.1: protects the SRTP vector', () => {
    expect(new SrtpContext(GCM, SESSION).protectRtp(RTP_PLAIN).toString('hex')).toBe(
      RTP_PROTECTED.toString('hex'),
    );
  });

  it('§16.1: unprotects the SRTP vector in place', () => {
    const packet = Buffer.from(RTP_PROTECTED);
    const out = new SrtpContext(GCM, SESSION).unprotectRtp(packet);
    expect(Buffer.from(out).toString('hex')).toBe(RTP_PLAIN.toString('hex'));
    expect(out.buffer).toBe(packet.buffer);
  });

  it('§17.1: protects the SRTCP vector (index 0x5d4, E set, tag before the index)', () => {
    expect(rtcpSenderAt0x5d3().protectRtcp(RTCP_PLAIN).toString('hex')).toBe(RTCP_PROTECTED.toString('hex'));
  });

  it('§17.1: unprotects the SRTCP vector', () => {
    const out = new SrtpContext(GCM, SESSION).unprotectRtcp(Buffer.from(RTCP_PROTECTED));
    expect(Buffer.from(out).toString('hex')).toBe(RTCP_PLAIN.toString('hex'));
  });

  it('§17.1: authenticates an unencrypted SRTCP packet (E = 0: all of it is AAD) without decrypting', () => {
    const out = new SrtpContext(GCM, SESSION).unprotectRtcp(Buffer.from(RTCP_TAGGED));
    expect(Buffer.from(out).toString('hex')).toBe(RTCP_PLAIN.toString('hex'));
  });

  it('the SRTP tag is AES-GCM over the RFC IV with the header as AAD (node:crypto decipher)', () => {
    // IV = (0x0000 || SSRC || ROC || SEQ) XOR salt, computed by hand for SSRC 5501a0b2, ROC 0, SEQ f17b.
    const d = createDecipheriv('aes-128-gcm', KEY, hex('51753c6580c2726f20718414'));
    d.setAAD(RTP_PROTECTED.subarray(0, 12));
    d.setAuthTag(RTP_PROTECTED.subarray(-16));
    const plain = Buffer.concat([d.update(RTP_PROTECTED.subarray(12, -16)), d.final()]);
    expect(plain.toString()).toBe('Gallia est omnis divisa in partes tres');
  });
});

describe('AEAD_AES_128_GCM context', () => {
  const MASTER = hex('000102030405060708090a0b0c0d0e0f 517569642070726f2071756f'); // 28 bytes

  it('a 28-byte inline key is the master key and salt; 30 bytes are refused', () => {
    expect(() => new SrtpContext(GCM, MASTER)).not.toThrow();
    expect(() => new SrtpContext(GCM, Buffer.alloc(30))).toThrow(/28 bytes/);
  });

  it('derives 12-byte session salts from a 96-bit master salt (RFC 3711 PRF, salt padded with zero bits)', () => {
    const k = deriveSessionKeys(MASTER.subarray(0, 16), MASTER.subarray(16));
    const padded = deriveSessionKeys(
      MASTER.subarray(0, 16),
      Buffer.concat([MASTER.subarray(16), Buffer.alloc(2)]),
    );
    expect(k.rtpSalt).toHaveLength(12);
    expect(k.rtpSalt.equals(padded.rtpSalt.subarray(0, 12))).toBe(true);
    expect(k.rtpEncryption.equals(padded.rtpEncryption)).toBe(true);
  });

  it('round trip of RTP and RTCP across a sequence wrap, with reordering', () => {
    const tx = new SrtpContext(GCM, MASTER);
    const rx = new SrtpContext(GCM, MASTER);
    const seqs = [0xfffd, 0xfffe, 0xffff, 0x0000, 0x0001, 0x0002];
    const sent = new Map(seqs.map((s) => [s, tx.protectRtp(rtp(s, 0x1234))]));
    for (const s of [0xfffd, 0xfffe, 0x0000, 0xffff, 0x0002, 0x0001]) {
      const p = sent.get(s)!;
      expect(p).toHaveLength(12 + 160 + 16);
      expect(Buffer.from(rx.unprotectRtp(Buffer.from(p))).equals(rtp(s, 0x1234))).toBe(true);
    }
    expect(rx.rolloverCounter(0x1234)).toBe(1);
    const sr = hex('80c80006 00001234' + '00'.repeat(20));
    for (let i = 0; i < 3; i++) {
      expect(Buffer.from(rx.unprotectRtcp(tx.protectRtcp(sr))).equals(sr)).toBe(true);
    }
  });

  it('replays and tampered bytes are refused, the packet left untouched', () => {
    const tx = new SrtpContext(GCM, MASTER);
    const rx = new SrtpContext(GCM, MASTER);
    const p = tx.protectRtp(rtp(7, 99));
    rx.unprotectRtp(Buffer.from(p));
    expect(code(() => rx.unprotectRtp(Buffer.from(p)))).toBe('SRTP_ERR_REPLAY');
    const p2 = tx.protectRtp(rtp(8, 99));
    for (const at of [1, 4, 12, 100, p2.length - 1]) {
      const bad = Buffer.from(p2);
      bad[at]! ^= 0x01;
      const copy = Buffer.from(bad);
      expect(code(() => rx.unprotectRtp(bad))).toBe('SRTP_ERR_AUTH');
      expect(bad.equals(copy)).toBe(true);
    }
    expect(Buffer.from(rx.unprotectRtp(Buffer.from(p2))).equals(rtp(8, 99))).toBe(true);
    const c = tx.protectRtcp(hex('80c90001 00000063'));
    const badRtcp = Buffer.from(c);
    badRtcp[badRtcp.length - 1]! ^= 0x80; // the E flag: AAD changes
    expect(code(() => rx.unprotectRtcp(badRtcp))).toBe('SRTP_ERR_AUTH');
    rx.unprotectRtcp(Buffer.from(c));
    expect(code(() => rx.unprotectRtcp(Buffer.from(c)))).toBe('SRTP_ERR_REPLAY');
  });

  it('too short for the 16-byte tag', () => {
    const rx = new SrtpContext(GCM, MASTER);
    expect(code(() => rx.unprotectRtp(Buffer.alloc(27, 0x80)))).toBe('SRTP_ERR_TRUNCATED');
    expect(code(() => rx.unprotectRtcp(Buffer.alloc(27, 0x80)))).toBe('SRTP_ERR_TRUNCATED');
  });

  it('another key does not authenticate', () => {
    const tx = new SrtpContext(GCM, MASTER);
    const other = Buffer.from(MASTER);
    other[27]! ^= 1; // the salt alone: another IV
    expect(code(() => new SrtpContext(GCM, other).unprotectRtp(tx.protectRtp(rtp(1, 1))))).toBe(
      'SRTP_ERR_AUTH',
    );
  });
});

// AEAD_AES_256_GCM: RFC 7714 §16.2.1 (SRTP) and §17.2 (SRTCP), the same packets under the 32-byte
// key 00 01 … 1f and the same salt; the protected bytes copied from two public test files that cite
// those sections (a C# Rfc7714Aes256GcmVectorTests and a Rust RFC 7714 vectors file, which agree).
const GCM256 = srtpSuite('AEAD_AES_256_GCM')!;
const KEY256 = hex('000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1f');
const SESSION256: SessionKeys = { ...SESSION, rtpEncryption: KEY256, rtcpEncryption: KEY256 };
const RTP_PROTECTED_256 = hex(`8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa 332e33aa
  b1801238 9a58e2f3 b50b2a02 76ffae0f 1ba63799 b87b7aa3 db36dfff d6b0f9bb 7878d7a7 6c13`);
const RTCP_PROTECTED_256 = hex(`81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d
  bffe0a50 a2eaa5c1 110555be 8415f658 c61de047 6f1b6fad 1d1eb30c 4446839f 57ff6f6c b26ac3be 800005d4`);

describe('AEAD_AES_256_GCM against RFC 7714 and RFC 6188', () => {
  it('suite: 32-byte key, 12-byte salt, 16-byte tags (§14.2), ranked first', () => {
    expect(GCM256).toMatchObject({
      aead: true,
      keyLength: 32,
      saltLength: 12,
      rtpTagLength: 16,
      rtcpTagLength: 16,
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

  it('§16.2.1: protects and unprotects the SRTP vector', () => {
    expect(new SrtpContext(GCM256, SESSION256).protectRtp(RTP_PLAIN).toString('hex')).toBe(
      RTP_PROTECTED_256.toString('hex'),
    );
    const out = new SrtpContext(GCM256, SESSION256).unprotectRtp(Buffer.from(RTP_PROTECTED_256));
    expect(Buffer.from(out).toString('hex')).toBe(RTP_PLAIN.toString('hex'));
    // Under the 128-bit key of §16.1 the same bytes do not authenticate.
    expect(code(() => new SrtpContext(GCM, SESSION).unprotectRtp(Buffer.from(RTP_PROTECTED_256)))).toBe(
      'SRTP_ERR_AUTH',
    );
  });

  it('§17.2: protects and unprotects the SRTCP vector', () => {
    const tx = rtcpSenderAt0x5d3(GCM256, SESSION256);
    expect(tx.protectRtcp(RTCP_PLAIN).toString('hex')).toBe(RTCP_PROTECTED_256.toString('hex'));
    const out = new SrtpContext(GCM256, SESSION256).unprotectRtcp(Buffer.from(RTCP_PROTECTED_256));
    expect(Buffer.from(out).toString('hex')).toBe(RTCP_PLAIN.toString('hex'));
  });

  it('RFC 6188 §7.2: the AES_256_CM_PRF key derivation (vectors as in libre test/srtp.c)', () => {
    const k = deriveSessionKeys(
      hex('f0f04914b513f2763a1b1fa130f10e29 98f6f6e43e4309d1e622a0e332b9f1b6'),
      hex('3b04803de51ee7c96423ab5b78d2'),
    );
    expect(k.rtpEncryption.toString('hex')).toBe(
      '5ba1064e30ec51613cad926c5a28ef731ec7fb397f70a960653caf06554cd8c4',
    );
    expect(k.rtpSalt.toString('hex')).toBe('fa31791685ca444a9e07c6c64e93');
    expect(k.rtpAuth.toString('hex')).toBe('fd9c32d39ed5fbb5a9dc96b30818454d1313dc05');
  });

  it('a 44-byte inline key (32 + 12) round trips RTP and RTCP; 28 or 30 bytes are refused', () => {
    const master = Buffer.concat([KEY256, SALT]);
    expect(() => new SrtpContext(GCM256, Buffer.alloc(28))).toThrow(/44 bytes/);
    expect(() => new SrtpContext(GCM256, Buffer.alloc(30))).toThrow(/44 bytes/);
    const tx = new SrtpContext(GCM256, master);
    const rx = new SrtpContext(GCM256, master);
    for (const s of [0xfffe, 0xffff, 0x0000]) {
      const p = tx.protectRtp(rtp(s, 0x77));
      expect(p).toHaveLength(12 + 160 + 16);
      expect(Buffer.from(rx.unprotectRtp(Buffer.from(p))).equals(rtp(s, 0x77))).toBe(true);
    }
    expect(rx.rolloverCounter(0x77)).toBe(1);
    const rr = hex('80c90001 00000077');
    expect(Buffer.from(rx.unprotectRtcp(tx.protectRtcp(rr))).equals(rr)).toBe(true);
    const bad = tx.protectRtp(rtp(1, 0x77));
    bad[20]! ^= 1;
    expect(code(() => rx.unprotectRtp(bad))).toBe('SRTP_ERR_AUTH');
  });
});
