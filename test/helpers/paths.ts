import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = join(ROOT, 'test', 'fixtures');

/** Folders made by this process so far: two asked for in the same millisecond differ by it. */
let made = 0;

/** A fresh folder for one test's logs and state, kept after the run for inspection. */
export function runDir(name: string): string {
  const dir = join(ROOT, '.test-runs', `${name}-${process.pid}-${Date.now().toString(36)}-${++made}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
