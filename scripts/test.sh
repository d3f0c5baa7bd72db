#!/usr/bin/env bash
# The whole test suite, from a fresh clone: install, build, typecheck, lint, then every test
# against the embedded adapters AND the real services (memcached and the Cloud Datastore
# emulator, which the test run starts on free ports and stops afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh --services
pnpm run build
pnpm run typecheck
pnpm run lint

mkdir -p .test-results
status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json=.test-results/vitest.json "$@" || status=$?
node scripts/test-summary.mjs .test-results/vitest.json || status=$((status == 0 ? 1 : status))
exit "$status"
