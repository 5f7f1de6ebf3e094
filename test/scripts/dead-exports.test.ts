/**
 * The dead-export check (`scripts/dead-exports.mjs`, run by `npm run lint`) on a small planted
 * project: it must name the export nobody imports and only that one.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { findDeadExports } from '../../scripts/dead-exports.mjs';

type Dead = { file: string; line: number; name: string }[];
const find = findDeadExports as (o: { project: string; dirs: string[] }) => Dead;

describe('dead-exports', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('names an export no other file imports, through barrels, type imports and namespaces', () => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-dead-'));
    const file = (name: string, text: string): void => writeFileSync(join(dir, name), text);
    file(
      'tsconfig.json',
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }),
    );
    file(
      'lib.ts',
      [
        'export const used = 1;',
        'export const viaBarrel = 2;',
        'export type UsedType = { a: number };',
        'export function planted(): number { return 3; }',
        'export const onlyHere = 4;',
        'export const alsoOnlyHere = onlyHere + 1;',
      ].join('\n'),
    );
    file('barrel.ts', "export { viaBarrel } from './lib.js';\n");
    file('whole.ts', 'export const a = 1;\nexport const b = 2;\n');
    file(
      'main.ts',
      [
        "import { used, type UsedType } from './lib.js';",
        "import { viaBarrel } from './barrel.js';",
        "import * as whole from './whole.js';",
        'const x: UsedType = { a: used + viaBarrel + whole.a };',
        'console.log(x);',
      ].join('\n'),
    );
    const dead = find({ project: join(dir, 'tsconfig.json'), dirs: ['.'] });
    expect(dead.map((d) => `${d.file}:${d.line} ${d.name}`)).toEqual([
      'lib.ts:4 planted',
      'lib.ts:5 onlyHere',
      'lib.ts:6 alsoOnlyHere',
    ]);
  });

  it('fails on a dead export missing from the baseline and on a baseline line that is no longer dead', () => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-dead-'));
    const file = (name: string, text: string): void => writeFileSync(join(dir, name), text);
    file('tsconfig.json', JSON.stringify({ compilerOptions: { module: 'NodeNext', strict: true } }));
    file('lib.ts', 'export const used = 1;\nexport const planted = 2;\n');
    file('main.ts', "import { used } from './lib.js';\nconsole.log(used);\n");
    const check = (baseline: string): { status: number | null; stdout: string } => {
      file('baseline', baseline);
      const script = resolve('scripts/dead-exports.mjs');
      const args = [
        script,
        '--project',
        join(dir, 'tsconfig.json'),
        '--dirs',
        '.',
        '--baseline',
        join(dir, 'baseline'),
      ];
      return spawnSync(process.execPath, args, { encoding: 'utf8' });
    };
    expect(check('lib.ts planted\n')).toMatchObject({ status: 0 });
    // `planted` left out, and a line for `used`, which another file imports: both fail the check.
    const wrong = check('lib.ts used\n');
    expect(wrong.status).toBe(1);
    expect(wrong.stdout).toContain('lib.ts:2 planted');
    expect(wrong.stdout).toContain('"lib.ts used" is no longer a dead export');
  }, 60_000);
});
