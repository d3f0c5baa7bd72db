// Prints one plain closing line ("tests: N passed, N failed, N skipped") from one or more
// vitest JSON reports (one per Node.js line), so any reader of the log sees the totals.
// Exits non-zero when a report is missing or nothing ran.
import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of files) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    console.error(`test-summary: no vitest report at ${file}: ${error.message}`);
    process.exit(1);
  }
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (files.length === 0 || passed + failed === 0) {
  console.error('test-summary: no test ran');
  process.exit(1);
}
if (failed > 0) process.exit(1);
