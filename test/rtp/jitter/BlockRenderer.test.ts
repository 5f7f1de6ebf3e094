import { describe, expect, it } from 'vitest';
import { BlockRenderer, declick, type TimelineEntry } from '../../../rtp/jitter/BlockRenderer.js';
import { silenceConcealer } from '../../../rtp/jitter/Concealer.js';

// With silenceConcealer a good block is copied and a concealed one is zeros, so what the renderer
// decided is visible in `ready`. Blocks are 80 samples (10 ms at 8 kHz).
function entry(
  pos: number,
  len: number,
  seq: number,
  value: number | ((i: number) => number),
  epoch = 1,
): TimelineEntry {
  const pcm = Int16Array.from({ length: len }, (_, i) => (typeof value === 'number' ? value : value(i)));
  return { epoch, pos, len, seq, cn: false, played: false, pcm };
}
const cn = (pos: number, seq: number): TimelineEntry => ({ ...entry(pos, 0, seq, 0), cn: true });

/** A renderer concealing at most 160 samples (20 ms) before reporting silence. */
const renderer = (): BlockRenderer => new BlockRenderer(silenceConcealer, 160, 1000);

/** Two blocks rendered: source epoch 1 at 0, then epoch 2 at `value`. */
function splice(value: number): BlockRenderer {
  const r = renderer();
  const entries = [entry(0, 80, 1, 0, 1), entry(80, 80, 1, value, 2)];
  r.render(entries, [], false);
  r.render(entries, [], false);
  return r;
}

describe('BlockRenderer', () => {
  it('copies complete blocks, advances by a block each, and releases played entries to the pool', () => {
    const r = renderer();
    const entries = [entry(0, 160, 1, (i) => i + 1)];
    const pool: TimelineEntry[] = [];
    r.beginFrame();
    expect(r.render(entries, pool, false)).toBe(0);
    expect(r.render(entries, pool, false)).toBe(0);
    expect(r.pos).toBe(160);
    expect(r.readyLen).toBe(160);
    expect(r.kind).toBe('audio');
    expect(Array.from(r.ready.subarray(0, 160))).toEqual(Array.from({ length: 160 }, (_, i) => i + 1));
    r.render(entries, pool, false);
    expect(entries).toHaveLength(0);
    expect(pool).toHaveLength(1);
  });

  it('assembles a block from two packets, and from overlapping ones (the later written over the earlier)', () => {
    const r = renderer();
    // 0–39 from one packet, 40–119 from the next: block 0 is both, block 1 the second alone.
    r.render([entry(0, 40, 1, (i) => i + 1), entry(40, 80, 2, (i) => 1000 + i)], [], false);
    expect(r.kind).toBe('audio');
    expect(Array.from(r.ready.subarray(0, 80))).toEqual(
      Array.from({ length: 80 }, (_, i) => (i < 40 ? i + 1 : 1000 + i - 40)),
    );
    // A packet holding the whole block, then one overlapping its end.
    const o = renderer();
    o.render([entry(0, 80, 1, 5), entry(60, 40, 2, 7)], [], false);
    expect(Array.from(o.ready.subarray(0, 80))).toEqual(
      Array.from({ length: 80 }, (_, i) => (i < 60 ? 5 : 7)),
    );
  });

  it('conceals a missing block, then after the concealment limit reports silence', () => {
    const r = renderer();
    const kinds: string[] = [];
    for (let k = 0; k < 3; k++) {
      r.beginFrame();
      r.render([], [], false);
      kinds.push(r.kind);
    }
    // 80 and 160 concealed samples are within the 160-sample limit; 240 is past it.
    expect(kinds).toEqual(['concealed', 'concealed', 'silence']);
  });

  it('conceals a partly present block whole (no click at the hole)', () => {
    const r = renderer();
    r.beginFrame();
    r.render([entry(0, 40, 1, 1000)], [], false);
    expect(r.kind).toBe('concealed');
    expect(r.ready.subarray(0, 80).every((v) => v === 0)).toBe(true);
  });

  it('plays silence, not concealment, after comfort noise or while silent', () => {
    const r = renderer();
    const entries = [entry(0, 80, 1, 500), cn(80, 2)];
    r.beginFrame();
    r.render(entries, [], false);
    expect(r.kind).toBe('audio');
    r.beginFrame();
    r.render(entries, [], false);
    r.render(entries, [], false);
    expect(r.kind).toBe('silence');
    expect(r.silent).toBe(true);
    expect(r.ready.subarray(80, 240).every((v) => v === 0)).toBe(true);
  });

  it('may conceal a missing block without advancing when later packets are here', () => {
    const r = renderer();
    const entries = [entry(160, 80, 3, 7)];
    expect(r.render(entries, [], true)).toBe(80);
    expect(r.pos).toBe(0);
    expect(r.expanded).toBe(1);
    // Not allowed: the timeline advances.
    expect(r.render(entries, [], false)).toBe(0);
    expect(r.pos).toBe(80);
  });

  it('counts sequence gaps between played packets of one source as lost, across the wrap', () => {
    const r = renderer();
    const entries = [
      entry(0, 80, 65534, 1),
      entry(80, 80, 1, 1),
      entry(160, 80, 0, 1, 2),
      entry(240, 80, 5, 1, 2),
    ];
    for (let k = 0; k < 4; k++) {
      r.render(entries, [], false);
    }
    // 65534 → 1 skips 65535 and 0 (2 lost); a new epoch restarts counting; 0 → 5 skips 4.
    expect(r.lost).toBe(6);
  });

  it('removes the step at a splice between sources with a 40-sample linear ramp', () => {
    // Epoch 1 ends at 0; epoch 2 starts at 4000: out = 4000 − 4000 · (40 − i) / 40 = 100 · i.
    const r = splice(4000);
    expect(r.declicks).toBe(1);
    const out = Array.from(r.ready.subarray(80, 160));
    expect(out).toEqual(Array.from({ length: 80 }, (_, i) => (i < 40 ? 100 * i : 4000)));
  });

  it('de-clicks a splice inside a block: −3000 after 0 becomes −75 · i', () => {
    const r = renderer();
    r.render([entry(0, 40, 1, 0, 1), entry(40, 40, 1, -3000, 2)], [], false);
    expect(Array.from(r.ready.subarray(40, 80))).toEqual(Array.from({ length: 40 }, (_, i) => -75 * i || 0));
  });

  it('leaves small steps alone (below 1024, about −30 dBFS)', () => {
    const r = splice(1000);
    expect(r.declicks).toBe(0);
    expect(r.ready.subarray(80, 160).every((v) => v === 1000)).toBe(true);
  });
});

describe('declick', () => {
  it('saturates to 16 bits', () => {
    const b = new Int16Array(40).fill(32767);
    expect(declick(b, 0, 40, -2000)).toBe(true);
    // 32767 + 2000 · (40 − i) / 40 is over full scale up to i = 39 (32767 + 50).
    expect(b.every((v) => v === 32767)).toBe(true);
  });

  it('stops at the end of the range given', () => {
    const b = new Int16Array(10);
    expect(declick(b, 2, 6, 4000)).toBe(true);
    expect(Array.from(b)).toEqual([0, 0, -4000, -3900, -3800, -3700, 0, 0, 0, 0]);
  });

  it('hasBlock: the block at pos fully received (across two packets) or not; playedEnd after the last heard sample', () => {
    const r = renderer();
    // 0–60 and 60–140: the first block is complete across two packets, the second is not (140 < 160).
    const entries = [entry(0, 60, 1, 1), entry(60, 80, 2, 2)];
    expect(r.hasBlock(entries)).toBe(true);
    expect(r.playedEnd).toBe(Number.NEGATIVE_INFINITY);
    r.render(entries, [], false);
    expect(r.playedEnd).toBe(80);
    expect(r.hasBlock(entries)).toBe(false);
    expect(r.hasBlock([cn(80, 3)])).toBe(false);
    r.render(entries, [], false);
    // Concealed whole, but samples 80–140 were received and rendered past: a late packet must start at 140 or later.
    expect(r.playedEnd).toBe(140);
  });
});
