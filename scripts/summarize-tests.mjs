// Adds up vitest's JSON reports and the non-test steps of scripts/test-all.sh into one closing
// line: "N passed, N failed, N skipped". Exit code 1 when anything failed or nothing ran.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, ...failedSteps] = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];
for (const name of existsSync(dir) ? readdirSync(dir) : []) {
  if (!name.endsWith('.json')) {
    continue;
  }
  const report = JSON.parse(readFileSync(join(dir, name), 'utf8'));
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  for (const file of report.testResults ?? []) {
    for (const t of file.assertionResults ?? []) {
      if (t.status === 'failed') {
        failures.push(`${file.name.replace(process.cwd() + '/', '')} > ${t.fullName}`);
      }
    }
    if (file.status === 'failed' && !(file.assertionResults ?? []).some((t) => t.status === 'failed')) {
      failures.push(`${file.name.replace(process.cwd() + '/', '')}: ${file.message || 'failed to run'}`);
      failed += 1;
    }
  }
}
for (const step of failedSteps) {
  failures.push(`step failed: ${step}`);
}
if (failures.length) {
  console.log('\nFailures:');
  for (const f of failures) {
    console.log(`  - ${f}`);
  }
}
const stepFailures = failedSteps.filter((s) => !/tests$/.test(s)).length;
console.log(`\n${passed} passed, ${failed + stepFailures} failed, ${skipped} skipped`);
process.exit(failures.length || passed === 0 ? 1 : 0);
