// A vitest reporter that writes what the JSON report leaves out: the run's unhandled errors (an
// unhandled rejection or an uncaught exception in a test file, which fails the run although no
// test failed) and why the run ended. Path from SIPSCRIBE_RUN_ERRORS; read by summarize-tests.mjs.
import { writeFileSync } from 'node:fs';

export default class RunErrorsReporter {
  onTestRunEnd(_testModules, unhandledErrors, reason) {
    const file = process.env.SIPSCRIBE_RUN_ERRORS;
    if (!file) {
      return;
    }
    const errors = unhandledErrors.map((e) => ({
      name: e?.name ?? 'Error',
      message: String(e?.message ?? e),
      origin: e?.VITEST_TEST_PATH ?? null,
    }));
    writeFileSync(file, JSON.stringify({ reason, errors }));
  }
}
