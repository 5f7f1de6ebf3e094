// The closing line of `npm test` (scripts/summarize-tests.mjs) never says "0 failed" when a step
// failed: a test file that passes every test but leaks an unhandled rejection fails the run, and
// so does a test step that exited non-zero with nothing in its report, or any other failed step.
// The first case runs a real vitest with the project's reporter on a throwaway test file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runDir } from '../helpers/paths.js';

const SUMMARIZE = join(ROOT, 'scripts', 'summarize-tests.mjs');

function summarize(dir: string, failedSteps: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [SUMMARIZE, dir, ...failedSteps], { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, out: r.stdout };
}

/** A vitest JSON report with `passed` passing tests and nothing else. */
function passingReport(passed: number): string {
  const assertionResults = Array.from({ length: passed }, (_, i) => ({
    status: 'passed',
    fullName: `t${i}`,
  }));
  return JSON.stringify({
    numPassedTests: passed,
    numFailedTests: 0,
    numPendingTests: 0,
    numTodoTests: 0,
    testResults: [{ name: join(ROOT, 'x.test.ts'), status: 'passed', message: '', assertionResults }],
  });
}

describe('the closing line of the test suite', () => {
  it('counts an unhandled rejection as a failure although every test passed', () => {
    const dir = runDir('summary-leak');
    // Outside the repository: vitest finds no test below a dot-folder such as .test-runs/.
    const project = mkdtempSync(join(tmpdir(), 'sipscribe-leak-'));
    writeFileSync(
      join(project, 'leak.test.mjs'),
      `test('passes but leaks a rejection', async () => {
  void Promise.reject(new Error('leaked on purpose'));
  await new Promise((r) => setImmediate(r));
});
`,
    );
    const run = spawnSync(
      join(ROOT, 'node_modules', '.bin', 'vitest'),
      [
        'run',
        '--root',
        project,
        '--globals',
        '--reporter=json',
        `--reporter=${join(ROOT, 'scripts', 'vitest-run-errors.mjs')}`,
        `--outputFile.json=${join(dir, 'unit.json')}`,
      ],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, SIPSCRIBE_RUN_ERRORS: join(dir, 'unit.errors.json') },
      },
    );
    rmSync(project, { recursive: true, force: true });
    expect(run.status).not.toBe(0);
    const { status, out } = summarize(dir, ['unit tests']);
    expect(out).toMatch(/^1 passed, 1 failed, 0 skipped$/m);
    expect(out).toContain('unit: unhandled Error: leaked on purpose');
    expect(status).toBe(1);
  });

  it('counts a test step that exited non-zero with nothing in its report', () => {
    const dir = runDir('summary-silent');
    writeFileSync(join(dir, 'unit.json'), passingReport(5));
    writeFileSync(join(dir, 'integration.json'), passingReport(7));
    expect(summarize(dir, []).out).toMatch(/^12 passed, 0 failed, 0 skipped$/m);
    const { status, out } = summarize(dir, ['integration tests']);
    expect(out).toMatch(/^12 passed, 1 failed, 0 skipped$/m);
    expect(status).toBe(1);
  });

  it('counts every other failed step', () => {
    const dir = runDir('summary-steps');
    writeFileSync(join(dir, 'unit.json'), passingReport(3));
    const { status, out } = summarize(dir, ['lint', 'tests left ./data alone']);
    expect(out).toMatch(/^3 passed, 2 failed, 0 skipped$/m);
    expect(out).toContain('step failed: lint');
    expect(status).toBe(1);
  });

  it('fails a run that ran nothing', () => {
    const dir = runDir('summary-empty');
    const { status, out } = summarize(dir, []);
    expect(out).toMatch(/^0 passed, 0 failed, 0 skipped$/m);
    expect(status).toBe(1);
  });
});
