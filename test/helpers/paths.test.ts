import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runDir } from './paths.js';

describe('runDir', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gives two folders asked for in the same millisecond under one name two different paths', () => {
    // The load bench starts three instances at once: they shared one folder (and config.json),
    // so two processes ran on one HTTP port and the third instance never became ready.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-07T13:00:00Z'));
    const a = runDir('same-name');
    const b = runDir('same-name');
    try {
      expect(b).not.toBe(a);
    } finally {
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  });
});
