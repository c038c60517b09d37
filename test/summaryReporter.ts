import { appendFileSync } from 'node:fs';
import type { Reporter, TestModule } from 'vitest/node';

/**
 * Ends a run with one plain line, `vitest: N passed, N failed, N skipped`, after the default
 * reporter's summary: a line any log reader understands, whatever the colours or layout of the
 * default one. With PARLEY_TEST_SUMMARY set to a file path, the same counts are appended there as
 * `passed failed skipped`, so .ci/run can add up the unit/integration run and the browser run.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const testModule of testModules) {
      for (const test of testModule.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      // A file that failed to load has no tests but did fail.
      if (testModule.state() === 'failed' && !hasTests(testModule)) failed++;
    }
    failed += unhandledErrors.length;
    process.stdout.write(`\nvitest: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
    const file = process.env.PARLEY_TEST_SUMMARY;
    if (file) appendFileSync(file, `${passed} ${failed} ${skipped}\n`);
  }
}

function hasTests(testModule: TestModule): boolean {
  for (const _ of testModule.children.allTests()) return true;
  return false;
}
