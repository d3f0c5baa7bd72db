#!/usr/bin/env bash
# Installs what shardcount needs on a fresh machine, all of it inside the checkout: the
# project's pinned pnpm (.tools/) and the workspace's npm dependencies; with --services also
# what the test suite's real services need (Debian's memcached and redis-server packages when
# missing; Java and the Cloud Datastore emulator must be there). Installs and replaces nothing
# global but those Debian packages, and only when they are missing. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/project-tools.sh
services=false
[ "${1:-}" = "--services" ] && services=true

use_project_pnpm

if $services; then
  missing=()
  command -v memcached >/dev/null 2>&1 || missing+=(memcached)
  { command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; } ||
    missing+=(redis-server)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then sudo_cmd=(); else sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
      --no-install-recommends "${missing[@]}" >/dev/null
  fi
  emulator=/usr/lib/google-cloud-sdk/platform/cloud-datastore-emulator/cloud_datastore_emulator
  if [ ! -x "$emulator" ]; then
    echo "bootstrap: the Cloud Datastore emulator is missing ($emulator)." >&2
    echo "Install the Google Cloud SDK component cloud-datastore-emulator." >&2
    exit 1
  fi
  command -v java >/dev/null 2>&1 || { echo "bootstrap: java is required by the Datastore emulator" >&2; exit 1; }
fi

CI=true pnpm install --frozen-lockfile --reporter=silent
