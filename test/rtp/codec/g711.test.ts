import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  alawToLinear,
  decodeAlaw,
  decodeUlaw,
  encodeAlaw,
  encodeUlaw,
  linearToAlaw,
  linearToUlaw,
  ulawToLinear,
} from '../../../rtp/codec/g711.js';
import { FIXTURES } from '../../helpers/paths.js';

// Outside reference: SoX 14.4.2's G.711 conversions (scripts/gen-dsp-fixtures.sh), not our tables.
const dir = join(FIXTURES, 'dsp');
function int16File(name: string): Int16Array {
  const b = readFileSync(join(dir, name));
  const out = new Int16Array(b.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = b.readInt16LE(2 * i);
  }
  return out;
}
const codes = new Uint8Array(readFileSync(join(dir, 'all_codes.u8')));
const allInputs = int16File('all_int16.raw');

describe('G.711 against SoX', () => {
  it('fixtures cover every code and every 16-bit input', () => {
    expect(codes.length).toBe(256);
    expect(allInputs.length).toBe(65536);
    expect(allInputs[0]).toBe(-32768);
    expect(allInputs[65535]).toBe(32767);
  });

  it.each([
    ['μ-law', decodeUlaw, 'ulaw_decoded.raw'],
    ['A-law', decodeAlaw, 'alaw_decoded.raw'],
  ] as const)('%s decode matches SoX for all 256 codes', (_law, decode, file) => {
    const expected = int16File(file);
    const dst = new Int16Array(256);
    expect(decode(codes, dst)).toBe(256);
    expect(Array.from(dst)).toEqual(Array.from(expected));
  });

  it.each([
    ['μ-law', encodeUlaw, 'all_int16.ul'],
    ['A-law', encodeAlaw, 'all_int16.al'],
  ] as const)('%s encode matches SoX for all 65536 inputs', (_law, encode, file) => {
    const expected = new Uint8Array(readFileSync(join(dir, file)));
    const dst = new Uint8Array(65536);
    expect(encode(allInputs, dst)).toBe(65536);
    let mismatches = 0;
    for (let i = 0; i < 65536; i++) {
      if (dst[i] !== expected[i]) {
        mismatches++;
      }
    }
    expect(mismatches).toBe(0);
  });

  it('decode also matches the ITU-T G.191 STL expand algorithm (ulaw_expand/alaw_expand) for all codes', () => {
    // Transcribed from ITU-T G.191 STL src/g711/g711.c as an independent second oracle.
    const ituUlawExpand = (code: number): number => {
      const sign = code < 0x80 ? -1 : 1;
      let mantissa = ~code;
      const exponent = (mantissa >> 4) & 0x07;
      const step = 4 << (exponent + 1);
      mantissa &= 0x0f;
      // NOTE: | 0 turns the −0 of code 0x7F into 0, as the C short does.
      return (sign * ((0x80 << exponent) + step * mantissa + step / 2 - 4 * 33)) | 0;
    };
    const ituAlawExpand = (code: number): number => {
      const ix = (code ^ 0x55) & 0x7f;
      const iexp = ix >> 4;
      let mant = ix & 0x0f;
      if (iexp > 0) {
        mant += 16;
      }
      mant = (mant << 4) + 0x08;
      if (iexp > 1) {
        mant <<= iexp - 1;
      }
      return code > 127 ? mant : -mant;
    };
    for (let c = 0; c < 256; c++) {
      expect(ulawToLinear(c)).toBe(ituUlawExpand(c));
      expect(alawToLinear(c)).toBe(ituAlawExpand(c));
    }
  });

  it('single-sample helpers agree with the SoX references', () => {
    const ul = int16File('ulaw_decoded.raw');
    const al = int16File('alaw_decoded.raw');
    const ulEnc = new Uint8Array(readFileSync(join(dir, 'all_int16.ul')));
    const alEnc = new Uint8Array(readFileSync(join(dir, 'all_int16.al')));
    for (let c = 0; c < 256; c++) {
      expect(ulawToLinear(c)).toBe(ul[c]);
      expect(alawToLinear(c)).toBe(al[c]);
    }
    for (const x of [-32768, -12345, -5, -4, -1, 0, 1, 3, 4, 100, 8158, 32124, 32767]) {
      expect(linearToUlaw(x)).toBe(ulEnc[x + 32768]);
      expect(linearToAlaw(x)).toBe(alEnc[x + 32768]);
    }
    // Out-of-range inputs clamp.
    expect(linearToUlaw(40000)).toBe(ulEnc[65535]);
    expect(linearToAlaw(-40000)).toBe(alEnc[0]);
  });

  it('known G.711 values: μ-law 0xFF is 0, 0x80 is +32124; A-law 0xD5 is +8, 0xAA is +32256', () => {
    // G.711 Tables 1a/2a (values scaled to 16 bits).
    expect(ulawToLinear(0xff)).toBe(0);
    expect(ulawToLinear(0x80)).toBe(32124);
    expect(ulawToLinear(0x00)).toBe(-32124);
    expect(alawToLinear(0xd5)).toBe(8);
    expect(alawToLinear(0xaa)).toBe(32256);
    expect(alawToLinear(0x2a)).toBe(-32256);
  });

  it('decode then encode is the identity on codes (except μ-law −0, 0x7F → 0xFF)', () => {
    const lin = new Int16Array(256);
    const back = new Uint8Array(256);
    decodeUlaw(codes, lin);
    encodeUlaw(lin, back);
    for (let c = 0; c < 256; c++) {
      expect(back[c]).toBe(c === 0x7f ? 0xff : c);
    }
    decodeAlaw(codes, lin);
    encodeAlaw(lin, back);
    expect(Array.from(back)).toEqual(Array.from(codes));
  });

  it('throws RangeError when the destination is short, and accepts a longer one', () => {
    expect(() => decodeUlaw(new Uint8Array(160), new Int16Array(159))).toThrow(RangeError);
    expect(() => decodeAlaw(new Uint8Array(160), new Int16Array(10))).toThrow(RangeError);
    expect(() => encodeUlaw(new Int16Array(160), new Uint8Array(0))).toThrow(RangeError);
    expect(() => encodeAlaw(new Int16Array(2), new Uint8Array(1))).toThrow(/1 samples, 2 needed/);
    expect(decodeUlaw(new Uint8Array([0xff, 0x80]), new Int16Array(4))).toBe(2);
  });

  it('decodes a view into a larger buffer (RTP payload at an offset)', () => {
    const packet = new Uint8Array([0, 0, 0, 0xff, 0x80, 0x00, 9]);
    const dst = new Int16Array(3);
    decodeUlaw(packet.subarray(3, 6), dst);
    expect(Array.from(dst)).toEqual([0, 32124, -32124]);
  });
});
