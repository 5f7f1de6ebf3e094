import { describe, expect, it } from 'vitest';
import { SourceState } from '../../../rtp/session/SourceState.js';

const feed = (s: SourceState, seqs: number[]): string[] => seqs.map((q) => s.update(q));

describe('SourceState: RFC 3550 A.1 sequence validation', () => {
  it('holds the first packet on probation and validates on the second in sequence', () => {
    const s = new SourceState(1, 100, 8000);
    expect(feed(s, [100, 101, 102])).toEqual(['probation', 'valid', 'valid']);
    expect(s.validated).toBe(true);
  });

  it('restarts probation when probation packets are not sequential', () => {
    const s = new SourceState(1, 100, 8000);
    expect(feed(s, [100, 105, 107, 108])).toEqual(['probation', 'probation', 'probation', 'valid']);
  });

  it('without probation (a new SSRC of a validated call) takes the first packet as is, even at seq 0', () => {
    const s = new SourceState(1, 0, 8000, 0);
    expect(feed(s, [0, 1, 2])).toEqual(['valid', 'valid', 'valid']);
    expect([s.extendedMax, s.expected, s.lost]).toEqual([2, 3, 0]);
  });

  it('counts cycles across the 0xFFFF wrap', () => {
    const s = new SourceState(1, 0xfffe, 8000);
    feed(s, [0xfffe, 0xffff, 0, 1]);
    expect(s.extendedMax).toBe(0x10001);
    expect(s.expected).toBe(3); // base is the validating packet 0xffff (A.1 init_seq)
  });

  it('accepts jumps below MAX_DROPOUT (3000) as loss', () => {
    const s = new SourceState(1, 10, 8000);
    expect(feed(s, [10, 11, 11 + 2999])).toEqual(['probation', 'valid', 'valid']);
    expect(s.lost).toBe(2998);
  });

  it('drops one large jump, then restarts after two sequential "bad" packets', () => {
    const s = new SourceState(1, 10, 8000);
    expect(feed(s, [10, 11, 12, 20000, 20001, 20002])).toEqual([
      'probation',
      'valid',
      'valid',
      'bad',
      'restart',
      'valid',
    ]);
    // After the restart, A.1 init_seq resets the counters at 20001.
    expect(s.expected).toBe(2);
    expect(s.received).toBe(2);
    expect(s.lost).toBe(0);
  });

  it('ignores a single stray packet and keeps going', () => {
    const s = new SourceState(1, 10, 8000);
    expect(feed(s, [10, 11, 40000, 12, 13])).toEqual(['probation', 'valid', 'bad', 'valid', 'valid']);
    expect(s.extendedMax).toBe(13);
  });

  it('treats packets up to MAX_MISORDER (100) behind as reordered/duplicates, counted as received', () => {
    const s = new SourceState(1, 200, 8000);
    feed(s, [200, 201, 202, 203]);
    // 104 is 99 behind 203 (misordered); 103 is 100 behind: A.1 treats it as a jump.
    expect(feed(s, [202, 104, 103])).toEqual(['valid', 'valid', 'bad']);
    expect(s.extendedMax).toBe(203);
  });
});

describe('SourceState: A.3 loss and A.8 jitter', () => {
  it('reports fraction lost per interval and cumulative lost', () => {
    const s = new SourceState(0xabc, 0, 8000);
    // 0 is held in probation: it counts once released.
    feed(s, [0, 1]);
    s.countHeld();
    // 2..11 with 3 and 7 lost.
    feed(s, [2, 4, 5, 6, 8, 9, 10, 11]);
    const r = s.report(0);
    expect(r.ssrc).toBe(0xabc);
    expect(r.extendedHighestSeq).toBe(11);
    expect(r.cumulativeLost).toBe(2);
    expect(r.fractionLost).toBe(Math.floor((2 * 256) / 12));
    // Next interval: 12..15 all received, one duplicate: fraction 0, cumulative stays 2 - 1.
    feed(s, [12, 13, 13, 14, 15]);
    const r2 = s.report(0);
    expect(r2.fractionLost).toBe(0);
    expect(r2.cumulativeLost).toBe(1);
  });

  it('jitter is 0 at constant transit and follows J += (|D| - J)/16 otherwise', () => {
    const s = new SourceState(1, 0, 8000);
    for (let i = 0; i < 50; i++) {
      s.updateJitter(i * 160, i * 20);
    }
    expect(s.jitter).toBe(0);
    // Alternate ±10 ms (80 timestamp units) of transit: |D| = 80 each time after the first.
    const t = new SourceState(1, 0, 8000);
    let expected = 0;
    for (let i = 0; i < 100; i++) {
      t.updateJitter(i * 160, i * 20 + (i % 2) * 10);
      if (i > 0) {
        expected += (80 - expected) / 16;
      }
    }
    expect(t.jitter).toBeCloseTo(expected, 9);
    expect(t.jitter).toBeGreaterThan(75);
  });

  it('jitter survives the 32-bit timestamp wrap', () => {
    const s = new SourceState(1, 0, 8000);
    for (let i = 0; i < 20; i++) {
      s.updateJitter((0xffffff60 + i * 160) >>> 0, 1000 + i * 20);
    }
    expect(s.jitter).toBe(0);
  });

  it('LSR is the middle 32 bits of the SR NTP time and DLSR counts 1/65536 s', () => {
    const s = new SourceState(1, 0, 8000);
    s.onSenderReport(0xe9a1b2c3, 0x80004000, 1000);
    const r = s.report(2500);
    expect(r.lastSr).toBe(0xb2c38000);
    expect(r.delaySinceLastSr).toBe(1.5 * 65536);
  });
});
