import { describe, expect, it } from 'vitest';
import { FakeClock } from './FakeClock.js';

describe('FakeClock', () => {
  it('fires due timers in order with now() at their due time, and not the cancelled ones', () => {
    const c = new FakeClock(1000);
    const seen: string[] = [];
    c.setTimeout(() => seen.push(`b@${c.now()}`), 20);
    c.setTimeout(() => {
      seen.push(`a@${c.now()}`);
      c.setTimeout(() => seen.push(`c@${c.now()}`), 5);
    }, 10);
    const d = c.setTimeout(() => seen.push('d'), 15);
    c.clearTimeout(d);
    c.advance(19);
    expect(seen).toEqual(['a@1010', 'c@1015']);
    c.advance(1);
    expect(seen).toEqual(['a@1010', 'c@1015', 'b@1020']);
    expect(c.now()).toBe(1020);
    expect(c.pending).toBe(0);
  });
});
