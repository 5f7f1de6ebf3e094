import { describe, expect, it } from 'vitest';
import { codecByName, codecByPayloadType, PCMA, PCMU } from '../../../rtp/codec/table.js';

describe('codec table (RFC 3551 Table 4)', () => {
  it('maps static payload types 0 and 8', () => {
    expect(codecByPayloadType(0)?.name).toBe('PCMU');
    expect(codecByPayloadType(8)?.name).toBe('PCMA');
    expect(codecByPayloadType(18)).toBeUndefined();
    expect(codecByPayloadType(101)).toBeUndefined();
  });

  it('finds by rtpmap name case-insensitively and checks the rate', () => {
    expect(codecByName('pcmu')).toBe(PCMU);
    expect(codecByName('PCMA', 8000)).toBe(PCMA);
    expect(codecByName('PCMU', 16000)).toBeUndefined();
    expect(codecByName('opus', 48000)).toBeUndefined();
  });

  it('silence bytes decode to (near) zero and descriptors are frozen', () => {
    const out = new Int16Array(1);
    PCMU.decode(new Uint8Array([PCMU.silenceByte]), out);
    expect(out[0]).toBe(0);
    PCMA.decode(new Uint8Array([PCMA.silenceByte]), out);
    expect(Math.abs(out[0]!)).toBeLessThanOrEqual(8);
    expect(Object.isFrozen(PCMU)).toBe(true);
    expect(PCMU.wavFormatTag).toBe(7);
    expect(PCMA.wavFormatTag).toBe(6);
  });
});
