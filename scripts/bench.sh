#!/usr/bin/env bash
# `pnpm bench`: installs what is missing, builds the packages (the benchmarks import their
# dist/), then runs every benchmark scenario. Embedded adapters by default (no servers);
# `pnpm bench -- --backend real` (or SHARDCOUNT_BENCH_BACKEND=real) runs them against the
# Cloud Datastore emulator + memcached, which the runner starts and stops itself. Arguments
# go to the runner (`pnpm bench -- --help`). Tables on stdout, progress on stderr, results in
# benchmarks/results/latest-<backend>.{md,json}.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/project-tools.sh

backend=${SHARDCOUNT_BENCH_BACKEND:-embedded}
previous=
for arg in "$@"; do
  case "$arg" in
    --backend=*) backend=${arg#--backend=} ;;
    *) [ "$previous" = "--backend" ] && backend=$arg ;;
  esac
  previous=$arg
done

if [ "$backend" = "real" ]; then
  bash scripts/bootstrap.sh --services # memcached, redis-server, Java and the Datastore emulator
else
  bash scripts/bootstrap.sh
fi
use_project_pnpm
pnpm run build
cd benchmarks
exec node_modules/.bin/tsx src/run.ts "$@"
