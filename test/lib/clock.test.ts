/**
 * The system clock against Node's timer limit: setTimeout fires a delay above 2^31−1 ms after 1 ms
 * (vitest's fake timers reproduce that, as Node does), so longer waits must be chained.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../lib/clock.js';

describe('systemClock: delays beyond 2^31−1 ms', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a delay of 4,294,968,000 ms (Session-Expires 4294968 s) fires then, not after 1 ms', () => {
    const fired: number[] = [];
    const start = Date.now();
    systemClock.setTimeout(() => fired.push(Date.now() - start), 4_294_968_000);
    vi.advanceTimersByTime(60_000);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(4_294_968_000 - 60_000 - 1);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([4_294_968_000]);
  });

  it('2^31 ms exactly; a long timer cleared after its first leg never fires', () => {
    const fired: string[] = [];
    systemClock.setTimeout(() => fired.push('kept'), 2 ** 31);
    const h = systemClock.setTimeout(() => fired.push('cleared'), 2 ** 32);
    vi.advanceTimersByTime(2 ** 31 - 1);
    expect(fired).toEqual([]);
    systemClock.clearTimeout(h);
    vi.advanceTimersByTime(2 ** 33);
    expect(fired).toEqual(['kept']);
  });

  it('an ordinary delay is unchanged; a NaN delay is a RangeError', () => {
    const fired: string[] = [];
    systemClock.setTimeout(() => fired.push('t'), 500);
    vi.advanceTimersByTime(499);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['t']);
    expect(() => systemClock.setTimeout(() => undefined, Number.NaN)).toThrow(RangeError);
  });
});
