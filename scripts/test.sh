#!/usr/bin/env bash
# The whole test suite, from a fresh clone: install, build, typecheck, lint, then every test
# against the embedded adapters AND the real services (memcached, Valkey/redis-server and the
# Cloud Datastore emulator, which the test run starts on free ports and stops afterwards), on
# the machine's Node.js and on every other maintained line (SHARDCOUNT_NODE_LINES, default:
# see scripts/lib/project-tools.sh; `SHARDCOUNT_NODE_LINES=system` runs the machine's only).
# Arguments go to vitest (e.g. a test file filter). Ends with one line
# "tests: N passed, N failed, N skipped" summed over every line.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/project-tools.sh

bash scripts/bootstrap.sh --services
use_project_pnpm
pnpm run build
pnpm run typecheck
pnpm run lint

lines=${SHARDCOUNT_NODE_LINES:-system $SHARDCOUNT_NODE_LINES_DEFAULT}
mkdir -p .test-results
rm -f .test-results/vitest-*.json
status=0
timings=()
for line in $lines; do
  bin=$(node_dir_for "$line")
  version=$(PATH="$bin:$PATH" node --version)
  echo "=== tests on Node.js $version ($line)"
  started=$(date +%s)
  report=".test-results/vitest-$version.json"
  PATH="$bin:$PATH" pnpm exec vitest run --reporter=default --reporter=json \
    --outputFile.json="$report" "$@" || status=1
  elapsed=$(($(date +%s) - started))
  line_summary=$(node scripts/test-summary.mjs "$report" 2>&1) || status=1
  timings+=("Node.js $version: ${elapsed}s, ${line_summary#tests: }")
done
echo "=== per Node.js line"
printf '%s\n' "${timings[@]}"
node scripts/test-summary.mjs .test-results/vitest-*.json || status=1
exit "$status"
