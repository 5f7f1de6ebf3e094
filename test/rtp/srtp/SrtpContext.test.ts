import { createCipheriv, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AesCm } from '../../../rtp/srtp/AesCm.js';
import { deriveSessionKeys } from '../../../rtp/srtp/kdf.js';
import { ReplayWindow } from '../../../rtp/srtp/ReplayWindow.js';
import { SrtpContext } from '../../../rtp/srtp/SrtpContext.js';
import { code } from './srtpErrorCode.js';
import { srtpSuite, type SrtpSuite } from '../../../rtp/srtp/suites.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SHA1_80 = srtpSuite('AES_CM_128_HMAC_SHA1_80')!;
const SHA1_32 = srtpSuite('AES_CM_128_HMAC_SHA1_32')!;

// RFC 3711 Appendix B.3 master key and salt (also libsrtp's srtp_driver reference packets).
const MASTER = Buffer.concat([hex('E1F97A0D3E018BE0D64FA32C06DE4139'), hex('0EC675AD498AFEEBB6960B3AABE6')]);
// libsrtp test/srtp_driver.c srtp_validate(): SSRC 0xcafebabe, seq 0x1234, payload 16 × 0xab.
const RTP_PLAIN = hex('800f1234decafbadcafebabe' + 'ab'.repeat(16));
const RTP_PROTECTED = hex('800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb');
const RTCP_PLAIN = hex('81c8000bcafebabe' + 'ab'.repeat(16));
const RTCP_PROTECTED = hex('81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798');

function rtp(seq: number, ssrc: number, payload: Uint8Array = Buffer.alloc(160, 0xff)): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = 0;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(seq * 160, 4);
  b.writeUInt32BE(ssrc, 8);
  b.set(payload, 12);
  return b;
}

function pair(suite: SrtpSuite = SHA1_80): { tx: SrtpContext; rx: SrtpContext } {
  return { tx: new SrtpContext(suite, MASTER), rx: new SrtpContext(suite, MASTER) };
}

describe('RFC 3711 Appendix B vectors', () => {
  it('B.2 AES-CM keystream', () => {
    const aes = new AesCm(hex('2B7E151628AED2A6ABF7158809CF4F3C'));
    const iv = hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000');
    const ks = aes.keystream(iv, 0xff02 * 16);
    expect(ks.subarray(0, 48).toString('hex').toUpperCase()).toBe(
      'E03EAD0935C95E80E166B16DD92B4EB4' +
        'D23513162B02D0F72A43A2FE4A5F97AB' +
        '41E95B3BB0A2E8DD477901E4FCA894C0',
    );
    expect(
      ks
        .subarray(0xfeff * 16)
        .toString('hex')
        .toUpperCase(),
    ).toBe(
      'EC8CDF7398607CB0F2D21675EA9EA1E4' +
        '362B7C3C6773516318A077D7FC5073AE' +
        '6A2CC3787889374FBEB4C81B17BA6C44',
    );
  });

  it('B.3 key derivation', () => {
    const k = deriveSessionKeys(MASTER.subarray(0, 16), MASTER.subarray(16));
    expect(k.rtpEncryption.toString('hex').toUpperCase()).toBe('C61E7A93744F39EE10734AFE3FF7A087');
    expect(k.rtpSalt.toString('hex').toUpperCase()).toBe('30CBBC08863D8C85D49DB34A9AE1');
    expect(k.rtpAuth.toString('hex').toUpperCase()).toBe('CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4');
  });
});

describe('libsrtp reference packets (AES_CM_128_HMAC_SHA1_80)', () => {
  it('protects and unprotects the SRTP packet', () => {
    const { tx, rx } = pair();
    expect(tx.protectRtp(RTP_PLAIN).toString('hex')).toBe(RTP_PROTECTED.toString('hex'));
    expect(Buffer.from(rx.unprotectRtp(Buffer.from(RTP_PROTECTED))).toString('hex')).toBe(
      RTP_PLAIN.toString('hex'),
    );
  });

  it('protects and unprotects the SRTCP packet (index 1, E flag set)', () => {
    const { tx, rx } = pair();
    expect(tx.protectRtcp(RTCP_PLAIN).toString('hex')).toBe(RTCP_PROTECTED.toString('hex'));
    expect(Buffer.from(rx.unprotectRtcp(Buffer.from(RTCP_PROTECTED))).toString('hex')).toBe(
      RTCP_PLAIN.toString('hex'),
    );
  });

  it('the 32-bit suite: same ciphertext, the first 4 bytes of the HMAC as the tag; SRTCP keeps 80 bits', () => {
    const { tx, rx } = pair(SHA1_32);
    const p = tx.protectRtp(RTP_PLAIN);
    expect(p.toString('hex')).toBe(RTP_PROTECTED.subarray(0, RTP_PROTECTED.length - 6).toString('hex'));
    expect(Buffer.from(rx.unprotectRtp(p)).equals(RTP_PLAIN)).toBe(true);
    expect(tx.protectRtcp(RTCP_PLAIN).toString('hex')).toBe(RTCP_PROTECTED.toString('hex'));
  });

  it('an SRTCP packet without the E flag is authenticated but not decrypted', () => {
    const k = deriveSessionKeys(MASTER.subarray(0, 16), MASTER.subarray(16));
    const body = Buffer.concat([RTCP_PLAIN, hex('00000007')]);
    const tag = createHmac('sha1', k.rtcpAuth).update(body).digest().subarray(0, 10);
    const rx = new SrtpContext(SHA1_80, MASTER);
    expect(Buffer.from(rx.unprotectRtcp(Buffer.concat([body, tag]))).equals(RTCP_PLAIN)).toBe(true);
  });
});

describe('SRTP receive checks', () => {
  it('a tampered packet fails authentication and is not decrypted (the buffer is untouched)', () => {
    const { tx, rx } = pair();
    for (const at of [1, 5, 12, 20, RTP_PROTECTED.length - 1]) {
      const bad = tx.protectRtp(rtp(100 + at, 0x1234));
      bad[at]! ^= 0x01;
      const copy = Buffer.from(bad);
      expect(code(() => rx.unprotectRtp(bad))).toBe('SRTP_ERR_AUTH');
      expect(bad.equals(copy)).toBe(true);
    }
    // A failed packet moves neither the ROC nor the replay list: the genuine one still passes.
    const good = tx.protectRtp(rtp(200, 0x1234));
    expect(code(() => rx.unprotectRtp(good))).toBeUndefined();
  });

  it('too short for its tag → SRTP_ERR_TRUNCATED; wrong key → SRTP_ERR_AUTH', () => {
    const rx = new SrtpContext(SHA1_80, MASTER);
    expect(code(() => rx.unprotectRtp(Buffer.alloc(21, 0x80)))).toBe('SRTP_ERR_TRUNCATED');
    expect(code(() => rx.unprotectRtcp(Buffer.alloc(21, 0x80)))).toBe('SRTP_ERR_TRUNCATED');
    const other = Buffer.from(MASTER);
    other[0]! ^= 1;
    const tx = new SrtpContext(SHA1_80, other);
    expect(code(() => rx.unprotectRtp(tx.protectRtp(rtp(1, 7))))).toBe('SRTP_ERR_AUTH');
    expect(code(() => rx.unprotectRtcp(tx.protectRtcp(RTCP_PLAIN)))).toBe('SRTP_ERR_AUTH');
  });

  it('replay: a packet seen is refused, reordering inside the window accepted, older than the window refused', () => {
    const { tx, rx } = pair();
    const pkts = new Map<number, Buffer>();
    for (let seq = 1000; seq < 1200; seq++) {
      pkts.set(seq, tx.protectRtp(rtp(seq, 42)));
    }
    const copy = (seq: number): Buffer => Buffer.from(pkts.get(seq)!);
    expect(code(() => rx.unprotectRtp(copy(1000)))).toBeUndefined();
    expect(code(() => rx.unprotectRtp(copy(1000)))).toBe('SRTP_ERR_REPLAY');
    expect(code(() => rx.unprotectRtp(copy(1150)))).toBeUndefined();
    expect(code(() => rx.unprotectRtp(copy(1100)))).toBeUndefined(); // 50 behind: inside 128
    expect(code(() => rx.unprotectRtp(copy(1100)))).toBe('SRTP_ERR_REPLAY');
    expect(code(() => rx.unprotectRtp(copy(1010)))).toBe('SRTP_ERR_REPLAY'); // 140 behind: too old
    const rtcp1 = tx.protectRtcp(RTCP_PLAIN);
    expect(code(() => rx.unprotectRtcp(Buffer.from(rtcp1)))).toBeUndefined();
    expect(code(() => rx.unprotectRtcp(Buffer.from(rtcp1)))).toBe('SRTP_ERR_REPLAY');
  });

  it('rollover counter across a sequence wrap, with reordering around it', () => {
    const { tx, rx } = pair();
    const ssrc = 0xdeadbeef;
    const seqs = [0xfffd, 0xfffe, 0xffff, 0, 1, 2];
    const pkts = seqs.map((s) => tx.protectRtp(rtp(s, ssrc, Buffer.alloc(20, s & 0xff))));
    expect(tx.rolloverCounter(ssrc)).toBe(1);
    // Independent reference: packet seq 1 after the wrap has index 2^16 + 1, i.e. ROC 1 in the IV
    // (AES-128-CTR of node:crypto over the RFC 3711 §4.1.1 IV) and in the HMAC input.
    const k = deriveSessionKeys(MASTER.subarray(0, 16), MASTER.subarray(16));
    const iv = Buffer.alloc(16);
    k.rtpSalt.copy(iv);
    iv.writeUInt32BE(iv.readUInt32BE(4) ^ ssrc, 4);
    iv.writeUInt32BE((iv.readUInt32BE(8) ^ 0x00000001) >>> 0, 8); // index bits 32–47: 0x0001
    iv.writeUInt32BE((iv.readUInt32BE(10) ^ 0x00000001) >>> 0, 10); // index low 32 bits: seq 1
    const expectedPayload = createCipheriv('aes-128-ctr', k.rtpEncryption, iv).update(Buffer.alloc(20, 1));
    const p1 = pkts[4]!;
    expect(p1.subarray(12, 32).toString('hex')).toBe(expectedPayload.toString('hex'));
    const roc1 = Buffer.from([0, 0, 0, 1]);
    const tag = createHmac('sha1', k.rtpAuth).update(p1.subarray(0, 32)).update(roc1).digest();
    expect(p1.subarray(32).toString('hex')).toBe(tag.subarray(0, 10).toString('hex'));

    // Receive out of order across the wrap: 0xfffd, 0, 0xffff, 1, 0xfffe, 2.
    for (const i of [0, 3, 2, 4, 1, 5]) {
      const out = rx.unprotectRtp(Buffer.from(pkts[i]!));
      expect(Buffer.from(out.subarray(12)).equals(Buffer.alloc(20, seqs[i]! & 0xff))).toBe(true);
    }
    expect(rx.rolloverCounter(ssrc)).toBe(1);
  });

  it('RTP with CSRCs and a header extension: the headers stay in clear, the payload is encrypted', () => {
    const { tx, rx } = pair();
    const plain = Buffer.concat([
      hex('92000001 00000000 00000005 00000011 00000022'), // V=2 X=1 CC=2
      hex('bede0001 12345678'),
      Buffer.from('payload!'),
    ]);
    const p = tx.protectRtp(plain);
    expect(p.subarray(0, 28).equals(plain.subarray(0, 28))).toBe(true);
    expect(p.subarray(28, 36).equals(plain.subarray(28))).toBe(false);
    expect(Buffer.from(rx.unprotectRtp(p)).equals(plain)).toBe(true);
  });
});

describe('ReplayWindow', () => {
  it('slides, forgets what fell out and clears on a large jump', () => {
    const w = new ReplayWindow(4);
    expect(w.check(0)).toBe('ok');
    w.accept(0);
    w.accept(2);
    expect(w.check(1)).toBe('ok');
    expect(w.check(2)).toBe('replayed');
    w.accept(5);
    expect(w.check(1)).toBe('too-old');
    expect(w.check(3)).toBe('ok');
    expect(w.check(2)).toBe('replayed');
    w.accept(100);
    expect(w.check(98)).toBe('ok');
    expect(w.check(100)).toBe('replayed');
  });
});

describe('key lifetime (RFC 3711 §9.2, RFC 4568 §6.1)', () => {
  it('a receive context refuses packets beyond the lifetime, SRTP and SRTCP counted apart', () => {
    const tx = new SrtpContext(SHA1_80, MASTER);
    const rx = new SrtpContext(SHA1_80, MASTER, { lifetime: 3 });
    const sent = [1, 2, 3, 4].map((s) => tx.protectRtp(rtp(s, 7)));
    for (const p of sent.slice(0, 3)) {
      rx.unprotectRtp(Buffer.from(p));
    }
    expect(code(() => rx.unprotectRtp(Buffer.from(sent[3]!)))).toBe('SRTP_ERR_KEY_EXPIRED');
    const rr = hex('80c90001 00000007');
    for (let i = 0; i < 3; i++) {
      rx.unprotectRtcp(tx.protectRtcp(rr));
    }
    expect(code(() => rx.unprotectRtcp(tx.protectRtcp(rr)))).toBe('SRTP_ERR_KEY_EXPIRED');
  });

  it('forged packets do not use up the lifetime', () => {
    const tx = new SrtpContext(SHA1_80, MASTER);
    const rx = new SrtpContext(SHA1_80, MASTER, { lifetime: 2 });
    for (let s = 1; s <= 5; s++) {
      const bad = tx.protectRtp(rtp(s, 7));
      bad[20]! ^= 1;
      expect(code(() => rx.unprotectRtp(bad))).toBe('SRTP_ERR_AUTH');
    }
    rx.unprotectRtp(tx.protectRtp(rtp(6, 7)));
    rx.unprotectRtp(tx.protectRtp(rtp(7, 7)));
    expect(code(() => rx.unprotectRtp(tx.protectRtp(rtp(8, 7))))).toBe('SRTP_ERR_KEY_EXPIRED');
  });

  it('a send context stops protecting once its lifetime is used up', () => {
    const tx = new SrtpContext(SHA1_80, MASTER, { lifetime: 2 });
    tx.protectRtp(rtp(1, 7));
    tx.protectRtp(rtp(2, 7));
    expect(code(() => tx.protectRtp(rtp(3, 7)))).toBe('SRTP_ERR_KEY_EXPIRED');
    expect(code(() => tx.protectRtcp(hex('80c90001 00000007')))).toBeUndefined();
  });
});
