#!/usr/bin/env bash
# Generates the API reference of every package into docs/api (not committed: it is built
# from the TSDoc in the sources, so it can never drift from them). Warnings are errors.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/project-tools.sh
bash scripts/bootstrap.sh
use_project_pnpm
pnpm exec typedoc "$@"
echo "API reference written to docs/api/index.html"
