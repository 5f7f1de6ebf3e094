import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AesCm } from '../../../rtp/srtp/AesCm.js';
import { HmacSha1 } from '../../../rtp/srtp/HmacSha1.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('HmacSha1 (RFC 2202 §3 test cases)', () => {
  const cases: [string, Buffer, Buffer, string][] = [
    ['1', Buffer.alloc(20, 0x0b), bytes('Hi There'), 'b617318655057264e28bc0b6fb378c8ef146be00'],
    ['2', bytes('Jefe'), bytes('what do ya want for nothing?'), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79'],
    ['3', Buffer.alloc(20, 0xaa), Buffer.alloc(50, 0xdd), '125d7342b9ac11cd91a39af48aa17b4f63f175d3'],
    [
      '4',
      hex('0102030405060708090a0b0c0d0e0f10111213141516171819'),
      Buffer.alloc(50, 0xcd),
      '4c9007f4026250c6bc8414f9bf50c86c2d7235da',
    ],
  ];
  for (const [n, key, data, mac] of cases) {
    it(`test case ${n}`, () => {
      const h = new HmacSha1(key);
      expect(Buffer.from(h.digest(data, data.length), 'latin1').toString('hex')).toBe(mac);
      // The same key again, a message prefix and a suffix: nothing of the last message is kept.
      const longer = Buffer.concat([data.subarray(0, 3), Buffer.alloc(2000, 1)]);
      expect(h.digest(longer, 3, data.subarray(3))).toBe(h.digest(data, data.length));
      expect(Buffer.from(h.digest(data, data.length), 'latin1').toString('hex')).toBe(mac);
    });
  }
});

describe('AesCm.crypt: the keystream of an SSRC and index, computed ahead', () => {
  const key = hex('C61E7A93744F39EE10734AFE3FF7A087');
  const salt = hex('30CBBC08863D8C85D49DB34A9AE1');
  /** RFC 3711 §4.1.1 IV through node:crypto's AES-128-CTR, one cipher per packet: the reference. */
  function reference(ssrc: number, index: number, data: Buffer): Buffer {
    const iv = Buffer.alloc(16);
    salt.copy(iv);
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    const idx = Buffer.alloc(8);
    idx.writeBigUInt64BE(BigInt(index) << 16n);
    for (let i = 0; i < 8; i++) {
      iv[8 + i]! ^= idx[i]!;
    }
    return createCipheriv('aes-128-ctr', key, iv).update(data);
  }

  it('matches the reference in order, out of order, across SSRCs, lengths and 2^32 indices', () => {
    const aes = new AesCm(key, salt, 16);
    const steps: [number, number, number][] = [];
    for (let i = 0; i < 40; i++) {
      steps.push([0xcafebabe, 1000 + i, 160]);
    }
    steps.push(
      [0xcafebabe, 1001, 160],
      [0xcafebabe, 990, 160],
      [0xcafebabe, 1041, 1],
      [0xcafebabe, 1042, 700],
    );
    steps.push([7, 1043, 160], [0xcafebabe, 1043, 160], [0xcafebabe, 1044, 0]);
    steps.push(
      [0xdeadbeef, 0xffff_fff8, 160],
      [0xdeadbeef, 0x1_0000_0003, 160],
      [0xdeadbeef, 0xffff_ffff_fff0, 20],
    );
    for (const [ssrc, index, length] of steps) {
      const data = Buffer.alloc(length);
      for (let i = 0; i < length; i++) {
        data[i] = (i * 7 + index) & 0xff;
      }
      const expected = reference(ssrc, index, data);
      aes.crypt(ssrc, index, data);
      expect(data.toString('hex'), `ssrc ${ssrc} index ${index}`).toBe(expected.toString('hex'));
    }
  });

  it('XORs only data[from, to), at any alignment of the range, the bytes around it untouched', () => {
    const aes = new AesCm(key, salt, 16);
    let index = 5000;
    for (const length of [160, 161, 163, 15, 16, 17, 700]) {
      for (let offset = 0; offset < 8; offset++) {
        // A view that does not start its buffer, as node:dgram's may not.
        const whole = Buffer.alloc(length + 24, 0xee);
        const view = new Uint8Array(whole.buffer, whole.byteOffset + 3, length + 20);
        const data = Buffer.alloc(length);
        for (let i = 0; i < length; i++) {
          data[i] = (i * 13 + offset) & 0xff;
        }
        view.set(data, offset);
        const expected = reference(0xcafebabe, index, data);
        aes.crypt(0xcafebabe, index, view, offset, offset + length);
        expect(Buffer.from(view.subarray(offset, offset + length)).toString('hex')).toBe(
          expected.toString('hex'),
        );
        expect(view.subarray(0, offset).every((b) => b === 0xee)).toBe(true);
        expect(view.subarray(offset + length).every((b) => b === 0xee)).toBe(true);
        index++;
      }
    }
  });
});
