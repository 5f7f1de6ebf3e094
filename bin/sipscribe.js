#!/usr/bin/env node
// Launcher: builds dist/ with tsc when any source file is newer than the last build, then runs it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'dist', '.build-stamp');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) {
      newest = Math.max(newest, newestSource(p));
    } else if (entry.name.endsWith('.ts') || entry.name.endsWith('.html')) {
      newest = Math.max(newest, statSync(p).mtimeMs);
    }
  }
  return newest;
}

const sources = ['lib', 'src', 'sip', 'rtp'].map((d) => join(root, d)).filter((d) => existsSync(d));
const newest = Math.max(statSync(join(root, 'tsconfig.json')).mtimeMs, ...sources.map(newestSource));
if (!existsSync(stamp) || statSync(stamp).mtimeMs < newest) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) {
    process.stderr.write('sipscribe: dependencies are missing; run `npm ci` first\n');
    process.exit(1);
  }
  process.stderr.write('sipscribe: building (sources changed since the last build)...\n');
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write('sipscribe: build failed\n');
    process.exit(1);
  }
  writeFileSync(stamp, new Date().toISOString());
}
await import(pathToFileURL(join(root, 'dist', 'src', 'main.js')).href);
