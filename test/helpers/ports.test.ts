import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort } from './ports.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('freePort', () => {
  it('never hands out a port that fetch refuses (10080, on the Fetch standard\'s "bad port" list)', async () => {
    // The first draw lands on 10080 (10000 + 2·40), the next one elsewhere.
    const draws = [40.5 / 4999, 0.5];
    vi.spyOn(Math, 'random').mockImplementation(() => draws.shift() ?? 0.25);
    const port = await freePort();
    expect(port).not.toBe(10080);
    expect(draws).toHaveLength(0); // the second draw was needed
    // What the port is kept from: fetch itself refuses it.
    const err = await fetch('http://127.0.0.1:10080/').catch((e: unknown) => e as Error);
    expect((err as Error & { cause?: Error }).cause?.message).toBe('bad port');
  });
});
