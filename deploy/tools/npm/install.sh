#!/usr/bin/env bash
# Install the npm tools the contract tests run (tests/contract), exactly as package-lock.json pins them.
#
#   deploy/tools/npm/install.sh            install when missing or when the lock changed (idempotent)
#   deploy/tools/npm/install.sh --print    print the install directory and exit
#
# `npm ci` installs the locked tree (versions and sha512 integrity from package-lock.json) from the npm
# registry into C360_NPM_TOOLS (default .local/tools/npm, git-ignored). Install scripts are not run:
# the tools are plain JavaScript, and one dependency's install script only sends telemetry.
# A stamp named after the lock's sha256 makes a second run a no-op; a flock serialises parallel runs.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
TOOLS="${C360_NPM_TOOLS:-$ROOT/.local/tools/npm}"

if [[ "${1:-}" == "--print" ]]; then echo "$TOOLS"; exit 0; fi

die() { printf 'deploy/tools/npm/install.sh: %s\n' "$*" >&2; exit 1; }
command -v node >/dev/null 2>&1 || die "node is required (install Node.js 18+ with npm) and was not found on PATH"
command -v npm >/dev/null 2>&1 || die "npm is required and was not found on PATH"

mkdir -p "$TOOLS"
exec 9>"$TOOLS/.lock"
flock 9

lock_sum="$(sha256sum "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -c1-16)"
stamp="$TOOLS/.installed-$lock_sum"
if [[ -f "$stamp" && -d "$TOOLS/node_modules" ]]; then exit 0; fi

printf '==> npm ci (%s) into %s\n' "$(npm --version)" "$TOOLS" >&2
rm -f "$TOOLS"/.installed-*
install -m 0644 "$HERE/package.json" "$HERE/package-lock.json" "$TOOLS/"
(cd "$TOOLS" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) \
  || die "npm ci failed in $TOOLS (is the npm registry reachable?)"
touch "$stamp"
