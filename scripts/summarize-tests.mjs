// Adds up vitest's JSON reports, the runs' unhandled errors and the non-test steps of
// scripts/test-all.sh into one closing line: "N passed, N failed, N skipped". A failed step always
// counts: a test step that exited non-zero with no failure in its report (a crash, an unhandled
// error the report left out) counts as one failure itself. Exit code 1 when anything failed or
// nothing ran.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, ...failedSteps] = process.argv.slice(2);
const TEST_STEP = / tests$/;
const readJson = (file) => (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null);
const relative = (path) => path.replace(process.cwd() + '/', '');

let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];
/** One test step's report: its counts, plus a failure for each unhandled error. */
function testStep(name, stepFailed) {
  const report = readJson(join(dir, `${name}.json`));
  const run = readJson(join(dir, `${name}.errors.json`));
  let stepFailures = 0;
  if (report) {
    passed += report.numPassedTests ?? 0;
    stepFailures += report.numFailedTests ?? 0;
    skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    for (const file of report.testResults ?? []) {
      for (const t of file.assertionResults ?? []) {
        if (t.status === 'failed') {
          failures.push(`${relative(file.name)} > ${t.fullName}`);
        }
      }
      if (file.status === 'failed' && !(file.assertionResults ?? []).some((t) => t.status === 'failed')) {
        failures.push(`${relative(file.name)}: ${file.message || 'failed to run'}`);
        stepFailures += 1;
      }
    }
  }
  for (const e of run?.errors ?? []) {
    failures.push(
      `${name}: unhandled ${e.name}: ${e.message}${e.origin ? ` (from ${relative(e.origin)})` : ''}`,
    );
    stepFailures += 1;
  }
  if (stepFailed && stepFailures === 0) {
    failures.push(`${name} tests: the runner exited non-zero with no failure in its report (see its output)`);
    stepFailures = 1;
  }
  failed += stepFailures;
}

for (const name of ['unit', 'integration']) {
  testStep(name, failedSteps.includes(`${name} tests`));
}
for (const step of failedSteps.filter((s) => !TEST_STEP.test(s))) {
  failures.push(`step failed: ${step}`);
  failed += 1;
}
if (failures.length) {
  console.log('\nFailures:');
  for (const f of failures) {
    console.log(`  - ${f}`);
  }
}
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
