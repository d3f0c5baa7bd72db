#!/usr/bin/env bash
# Installs what shardcount needs on a fresh machine: the pinned pnpm and the workspace's npm
# dependencies; with --services also what the test suite's real services need (the Debian
# memcached package, Java and the Cloud Datastore emulator). Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."
services=false
[ "${1:-}" = "--services" ] && services=true

pnpm_version=$(node -p "require('./package.json').packageManager.split('@')[1]")
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "$pnpm_version" ]; then
  echo "bootstrap: installing pnpm@$pnpm_version"
  npm install -g "pnpm@$pnpm_version" >/dev/null
fi

if $services && ! command -v memcached >/dev/null 2>&1; then
  echo "bootstrap: installing memcached (Debian package)"
  if [ "$(id -u)" -eq 0 ]; then sudo_cmd=(); else sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq memcached >/dev/null
fi

if $services; then
  emulator=/usr/lib/google-cloud-sdk/platform/cloud-datastore-emulator/cloud_datastore_emulator
  if [ ! -x "$emulator" ]; then
    echo "bootstrap: the Cloud Datastore emulator is missing ($emulator)." >&2
    echo "Install the Google Cloud SDK component cloud-datastore-emulator." >&2
    exit 1
  fi
  command -v java >/dev/null 2>&1 || { echo "bootstrap: java is required by the Datastore emulator" >&2; exit 1; }
fi

CI=true pnpm install --frozen-lockfile --reporter=silent
