import { describe, expect, it } from 'vitest';
import { FramePacer } from '../../../src/stt/FramePacer.js';
import { FakeClock } from '../../helpers/FakeClock.js';

const frame = (v: number): Float32Array => new Float32Array(1920).fill(v);

function setup(opts = {}): {
  clock: FakeClock;
  pacer: FramePacer;
  out: { at: number; v: number; filled: boolean }[];
} {
  const clock = new FakeClock(1000);
  const out: { at: number; v: number; filled: boolean }[] = [];
  const pacer = new FramePacer(clock, opts, (pcm, filled) =>
    out.push({ at: clock.now(), v: pcm[0] ?? NaN, filled }),
  );
  pacer.start();
  return { clock, pacer, out };
}

describe('FramePacer', () => {
  it('sends frames pushed in real time as they come, inserting nothing', () => {
    const { clock, pacer, out } = setup();
    for (let i = 1; i <= 10; i++) {
      pacer.push(frame(i));
      clock.advance(80);
    }
    expect(out.map((o) => o.v)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(out.every((o) => !o.filled)).toBe(true);
  });

  it('releases a burst at most 5 frames ahead, then one per 80 ms', () => {
    const { clock, pacer, out } = setup();
    for (let i = 1; i <= 10; i++) {
      pacer.push(frame(i));
    }
    expect(out.length).toBe(6);
    clock.advance(80);
    expect(out.length).toBe(7);
    clock.advance(320);
    expect(out.map((o) => o.at - 1000)).toEqual([0, 0, 0, 0, 0, 0, 80, 160, 240, 320]);
  });

  it('fills with zero frames when the application stops, keeping call time', () => {
    const { clock, pacer, out } = setup();
    pacer.push(frame(1));
    clock.advance(2000);
    // 2 s = 25 frames of call time: 1 real + silence up to the present (frame 25 is due at 2000).
    expect(out.length).toBe(26);
    expect(out.slice(1).every((o) => o.filled && o.v === 0)).toBe(true);
    expect(pacer.filled).toBe(25);
    // 240 ms of tolerance, then catch-up at 320 ms, then exactly one zero frame per 80 ms.
    expect(out.slice(1, 5).map((o) => o.at - 1000)).toEqual([320, 320, 320, 320]);
    expect(out.slice(5).map((o) => o.at - 1000)).toEqual(Array.from({ length: 21 }, (_, k) => 400 + 80 * k));
    // The application resumes: its frame goes out at once, nothing is queued.
    pacer.push(frame(2));
    expect(out[26]!.v).toBe(2);
    expect(pacer.queued).toBe(0);
  });

  it('tolerates 240 ms of lateness before filling', () => {
    const { clock, pacer, out } = setup();
    pacer.push(frame(1));
    clock.advance(239);
    expect(out.length).toBe(1);
    pacer.push(frame(2));
    pacer.push(frame(3));
    pacer.push(frame(4));
    expect(out.map((o) => o.v)).toEqual([1, 2, 3, 4]);
  });

  it('drainAndStop sends what is queued at once and stops the clock work', () => {
    const { clock, pacer, out } = setup();
    for (let i = 1; i <= 10; i++) {
      pacer.push(frame(i));
    }
    pacer.drainAndStop();
    expect(out.map((o) => o.v)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(clock.pending).toBe(0);
  });

  it('runs faster than real time with speed', () => {
    const { clock, pacer, out } = setup({ speed: 4, leadFrames: 0 });
    for (let i = 1; i <= 5; i++) {
      pacer.push(frame(i));
    }
    clock.advance(80);
    expect(out.length).toBe(5);
  });
  it('started behind call time: the frames handed over that are due go out at once, then real time, nothing filled', () => {
    const clock = new FakeClock(1000);
    const out: { at: number; v: number; filled: boolean }[] = [];
    const pacer = new FramePacer(clock, {}, (pcm, filled) =>
      out.push({ at: clock.now(), v: pcm[0] ?? NaN, filled }),
    );
    // 10 frames kept while the stream opened (800 ms of call time), 2 more that came ahead of it.
    for (let i = 1; i <= 12; i++) {
      pacer.pushOwned(frame(i));
    }
    pacer.start(200); // frame 0 was due 800 ms ago
    // Due by now: frames 0…9, plus the 5 of lead: all 12.
    expect(out.map((o) => o.v)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    // The next frame is due at 200 + 12 × 80 = 1160; 5 of lead: a push now goes out at once.
    pacer.push(frame(13));
    expect(out).toHaveLength(13);
    clock.advance(80);
    pacer.push(frame(14));
    expect(out.map((o) => o.at)).toEqual([...Array<number>(13).fill(1000), 1080]);
    expect(out.every((o) => !o.filled)).toBe(true);
  });

  it('borrows what is pushed: a due frame goes to the sink as it is, one that must wait is copied', () => {
    const clock = new FakeClock(1000);
    const seen: Float32Array[] = [];
    const pacer = new FramePacer(clock, { leadFrames: 0 }, (pcm) => seen.push(pcm));
    pacer.start();
    const buf = frame(1);
    pacer.push(buf);
    expect(seen[0]).toBe(buf);
    buf.fill(2);
    pacer.push(buf); // due at 1080: waits, in a copy
    buf.fill(3);
    clock.advance(80);
    expect(seen).toHaveLength(2);
    expect(seen[1]).not.toBe(buf);
    expect(seen[1]![0]).toBe(2);
  });
});
