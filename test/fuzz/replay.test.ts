/**
 * Replays every saved reproducer (test/fuzz/findings/): each must now be refused with a typed
 * error or accepted, under its target's time threshold. Also checks the fuzzer itself on planted
 * bugs, so that a fuzzer that cannot find anything does not pass unnoticed.
 */
import { describe, expect, it } from 'vitest';
import { check, confirmedMs, fuzz } from './engine.js';
import { FINDINGS_DIR, KNOWN_DIR, loadFindings } from './findings.js';
import { targetNamed, TARGETS, type FuzzTarget } from './targets.js';

describe('saved fuzz reproducers', () => {
  for (const f of loadFindings(FINDINGS_DIR)) {
    it(`${f.file} (${f.kind}: ${f.signature})`, async () => {
      const target = targetNamed(f.target);
      expect(target, `target ${f.target}`).toBeDefined();
      const c = await check(target!, f.input);
      expect(c.error, String(c.error instanceof Error ? c.error.stack : c.error)).toBeUndefined();
      expect(await confirmedMs(target!, f.input, c.ms)).toBeLessThanOrEqual(target!.slowMs);
    });
  }

  it('every saved reproducer (fixed or still open) names a target', () => {
    for (const f of [...loadFindings(FINDINGS_DIR), ...loadFindings(KNOWN_DIR)]) {
      expect(TARGETS.map((t) => t.name)).toContain(f.target);
    }
  });
});

class PlantedError extends Error {
  readonly code = 'PLANTED';
}

/** A parser with two planted bugs: `;;` after a `:` crashes, a run of commas is quadratic. */
const planted: FuzzTarget = {
  name: 'planted',
  owner: 'test',
  maxLen: 3000,
  slowMs: 8,
  dictionary: [';', ',', ':'],
  seeds: () => [new TextEncoder().encode('Via: a;b,c')],
  run(input) {
    const s = Buffer.from(input).toString('latin1');
    if (!s.startsWith('Via')) {
      throw new PlantedError('not a Via');
    }
    if (/:.*;;/.test(s)) {
      return (undefined as unknown as string).trim();
    }
    let commas = 0;
    for (let i = 0; i < s.length; i++) {
      if (s[i] === ',') {
        for (let j = 0; j < s.length; j++) {
          commas += s[j] === ',' ? 1 : 0;
        }
      }
    }
    return `ok ${Math.min(commas, 1)}`;
  },
  typed: (err) => err instanceof PlantedError,
};

describe('the fuzzer', () => {
  it('finds a planted crash and a planted quadratic input; typed errors are not findings', async () => {
    const r = await fuzz(planted, { seed: 1, maxRuns: 3000 });
    const kinds = r.findings.map((f) => `${f.kind} ${f.signature.split(' @')[0]}`).sort();
    expect(kinds).toEqual(['crash TypeError: Cannot read properties of undefined (reading Q)', 'slow slow']);
    expect(r.runs).toBeGreaterThan(0);
  });

  it('an input that only waits (a loaded machine descheduling the fuzzer) is not slow: CPU time counts', async () => {
    const waiting: FuzzTarget = {
      ...planted,
      name: 'waiting',
      run() {
        // 30 ms of wall time without CPU, as when other processes hold the cores.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30);
        return 'ok';
      },
    };
    const r = await fuzz(waiting, { seed: 1, maxRuns: 20 });
    expect(r.findings).toEqual([]);
  });

  it('is deterministic for a seed: the same findings at the same input index', async () => {
    // Without the quadratic bug (time must not decide anything here).
    const fast: FuzzTarget = { ...planted, run: (input) => planted.run(input.subarray(0, 200)) };
    const a = await fuzz(fast, { seed: 7, maxRuns: 3000 });
    const b = await fuzz(fast, { seed: 7, maxRuns: 3000 });
    const crashes = (r: typeof a): [string, number, string][] =>
      r.findings
        .filter((f) => f.kind === 'crash')
        .map((f) => [f.signature, f.iteration, Buffer.from(f.input).toString('hex')]);
    expect(crashes(a)).toHaveLength(1);
    expect(crashes(a)).toEqual(crashes(b));
    expect(a.corpus).toBe(b.corpus);
  });
});
