import { describe, expect, it } from 'vitest';
import { DtmfReceiver, dtmfDigit } from '../../../rtp/session/DtmfReceiver.js';

/** RFC 4733 §2.3 payload: event, E|R|volume, duration (big-endian). */
const te = (code: number, end: boolean, duration: number, volume = 10): Uint8Array =>
  new Uint8Array([code, (end ? 0x80 : 0) | volume, duration >> 8, duration & 0xff]);

describe('DtmfReceiver (RFC 4733)', () => {
  it('maps event codes per RFC 4733 §3.2', () => {
    expect([0, 9, 10, 11, 12, 15, 16, 17].map(dtmfDigit)).toEqual([
      '0',
      '9',
      '*',
      '#',
      'A',
      'D',
      'flash',
      undefined,
    ]);
  });

  it('reports an event once, on its first end packet, with the final duration', () => {
    const r = new DtmfReceiver();
    expect(r.push(1000, te(1, false, 160))).toEqual([]);
    expect(r.push(1000, te(1, false, 480))).toEqual([]);
    expect(r.push(1000, te(1, true, 1040))).toEqual([{ digit: '1', durationMs: 130 }]);
    expect(r.push(1000, te(1, true, 1040))).toEqual([]);
    expect(r.push(1000, te(1, true, 1040))).toEqual([]);
  });

  it('reports an event whose end packets were all lost when the next one starts, or on flush', () => {
    const r = new DtmfReceiver();
    r.push(1000, te(3, false, 800));
    expect(r.push(5000, te(4, false, 160))).toEqual([{ digit: '3', durationMs: 100 }]);
    expect(r.flush()).toEqual({ digit: '4', durationMs: 20 });
    expect(r.flush()).toBeUndefined();
  });

  it('keeps a late update of a reported event from starting a new one', () => {
    const r = new DtmfReceiver();
    r.push(1000, te(7, true, 800));
    expect(r.push(1000, te(7, false, 640))).toEqual([]);
    expect(r.flush()).toBeUndefined();
  });

  it('ignores truncated payloads and non-DTMF events', () => {
    const r = new DtmfReceiver();
    expect(r.push(1, new Uint8Array([1, 0x80]))).toEqual([]);
    expect(r.push(2, te(40, true, 800))).toEqual([]);
  });
});
