/**
 * One timer drives every call's media on a clock: calls on the grid, joining and leaving (also from
 * inside a tick), the timer gone with the last call; and whole sessions (playout and sending) on
 * one FakeClock with one pending timer however many calls run.
 */
import { describe, expect, it } from 'vitest';
import { GRID_MS, MediaScheduler } from '../../../rtp/session/MediaScheduler.js';
import { RtpSession } from '../../../rtp/session/RtpSession.js';
import { FakeClock } from '../../helpers/FakeClock.js';
import { MemoryNetwork } from './memoryNetwork.js';
import { remoteMedia } from './remoteMedia.js';

describe('MediaScheduler', () => {
  it('ticks every 10 ms from the first join, one timer for all, none once the last one left', () => {
    const clock = new FakeClock(1000);
    const s = MediaScheduler.of(clock);
    expect(MediaScheduler.of(clock)).toBe(s);
    const a: number[] = [];
    const b: number[] = [];
    const ta = (now: number): void => void a.push(now);
    const tb = (now: number): void => void b.push(now);
    expect(s.join(ta)).toBe(1000);
    clock.advance(13);
    // b joins at 1013: its call time counts from the grid point before, 1010.
    expect(s.join(tb)).toBe(1010);
    expect(clock.pending).toBe(1);
    clock.advance(17);
    expect(a).toEqual([1010, 1020, 1030]);
    expect(b).toEqual([1020, 1030]);
    s.leave(ta);
    s.leave(ta);
    clock.advance(10);
    expect(a).toHaveLength(3);
    expect(b).toEqual([1020, 1030, 1040]);
    s.leave(tb);
    expect(s.size).toBe(0);
    expect(clock.pending).toBe(0);
    // Idle, then a new first call: the grid starts again at its join.
    clock.advance(5);
    const c: number[] = [];
    expect(s.join((now) => void c.push(now))).toBe(1045);
    clock.advance(20);
    expect(c).toEqual([1055, 1065]);
    expect(GRID_MS).toBe(10);
  });

  it('a member leaving or joining inside a tick; a member throwing does not stop the others', () => {
    const clock = new FakeClock(0);
    const s = MediaScheduler.of(clock);
    const seen: string[] = [];
    const late = (now: number): void => void seen.push(`late ${now}`);
    const quitter = (now: number): void => {
      seen.push(`quitter ${now}`);
      s.leave(quitter);
      s.join(late);
    };
    const thrower = (): void => {
      throw new Error('bug');
    };
    const steady = (now: number): void => void seen.push(`steady ${now}`);
    s.join(quitter);
    s.join(thrower);
    s.join(steady);
    clock.advance(20);
    expect(seen).toEqual(['quitter 10', 'steady 10', 'steady 20', 'late 20']);
    expect(s.size).toBe(3);
  });

  it('drives many sessions with one pending timer: frames and packets as with a timer each', async () => {
    const clock = new FakeClock(5000);
    const net = new MemoryNetwork();
    const frames = [0, 0, 0];
    const sessions: RtpSession[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await RtpSession.open(
        { host: '127.0.0.1', portMin: 20000, portMax: 20099, clock, socketFactory: net, timeoutMs: 0 },
        { onFrame: () => frames[i]!++ },
      );
      s.start(remoteMedia({ port: 40000 + 2 * i }));
      sessions.push(s);
      clock.advance(7);
    }
    // RTCP reporters keep a timer each; the media of the three calls has one.
    expect(clock.pending).toBe(1 + 3);
    clock.advance(1000);
    // Started at 5000, 5007, 5014 (on the grid from 5000, 5000, 5010); now 1021 ms later.
    expect(frames).toEqual([12, 12, 12]);
    expect(sessions.map((s) => s.getStats().packetsSent)).toEqual([52, 52, 51]);
    sessions.forEach((s) => s.close());
    expect(clock.pending).toBe(0);
  });
});
