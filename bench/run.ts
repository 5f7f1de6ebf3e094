/**
 * `npm run bench`: runs every `bench/*.bench.ts` (or only those named on the command line, e.g.
 * `npm run bench -- media`) one after the other and lets each print its figures. `load`, `soak` and `burst`
 * start processes and run for minutes: they run only when named (`npm run bench -- load`), and
 * read their own options (`--calls=50,100`; arguments starting with `-` are not benchmark names).
 * Each module exports `run(): Promise<void>`. Figures are measurements, never test assertions.
 * `npm run bench` runs node with `--expose-gc` (memory figures after a forced collection; a full
 * collection between benchmarks).
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
/** Benchmarks that run only when named. */
const ON_REQUEST = ['load.bench.ts', 'soak.bench.ts', 'burst.bench.ts'];
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => (only.length === 0 ? !ON_REQUEST.includes(f) : only.some((o) => f.startsWith(o))))
  .sort();

if (files.length === 0) {
  console.log('no benchmarks matched');
}
for (const f of files) {
  console.log(`\n## ${f.replace(/\.bench\.ts$/, '')}`);
  const mod = (await import(pathToFileURL(join(here, f)).href)) as { run: () => Promise<void> };
  await mod.run();
  // What one benchmark left on the heap must not weigh on the next one's figures.
  (globalThis as { gc?: () => void }).gc?.();
}
