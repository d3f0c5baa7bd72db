#!/usr/bin/env bash
# Generates the API reference of every package into docs/api (not committed: it is built
# from the TSDoc in the sources, so it can never drift from them). Warnings are errors.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
pnpm exec typedoc "$@"
echo "API reference written to docs/api/index.html"
