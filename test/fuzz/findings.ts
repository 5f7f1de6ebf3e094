/**
 * Saved reproducers: `<target>-<kind>-<sha1 of the input, 10 hex>.bin` (the input, byte for byte)
 * with a `.json` beside it (target, kind, signature, message, time, seed, iteration).
 * `findings/` is replayed by `replay.test.ts`; `known/` holds findings reported to the owner of the
 * code and not fixed yet (not replayed; the fuzzer does not count them as new). Move a file pair
 * from `known/` to `findings/` when its bug is fixed (found again, it is then reported as a regression).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Finding } from './engine.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const FINDINGS_DIR = join(HERE, 'findings');
export const KNOWN_DIR = join(HERE, 'known');

export interface SavedFinding extends Omit<Finding, 'input'> {
  /** The `.bin` file, relative to its folder. */
  file: string;
  input: Uint8Array;
}

/** Every reproducer in `dir` (none when it does not exist), sorted by file name. */
export function loadFindings(dir: string): SavedFinding[] {
  if (!existsSync(dir)) {
    return [];
  }
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const meta = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Omit<SavedFinding, 'input'>;
      return { ...meta, input: new Uint8Array(readFileSync(join(dir, meta.file))) };
    });
}

/** Writes a reproducer; returns its file name. */
export function saveFinding(dir: string, f: Finding): string {
  mkdirSync(dir, { recursive: true });
  const hash = createHash('sha1').update(f.input).digest('hex').slice(0, 10);
  const base = `${f.target}-${f.kind}-${hash}`;
  writeFileSync(join(dir, `${base}.bin`), f.input);
  const { input: _input, ...meta } = f;
  writeFileSync(
    join(dir, `${base}.json`),
    `${JSON.stringify({ ...meta, bytes: f.input.byteLength, file: `${base}.bin` }, null, 2)}\n`,
  );
  return `${base}.bin`;
}

/**
 * `target|signature` of the open findings (`known/`): what a run does not report as new. A
 * signature of `findings/` (fixed) found again is a regression, reported and saved again.
 */
export function knownSignatures(): Set<string> {
  return new Set(loadFindings(KNOWN_DIR).map((f) => `${f.target}|${f.signature}`));
}
