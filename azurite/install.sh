#!/usr/bin/env bash
# Install Azurite (pinned in package.json / package-lock.json) into azurite/node_modules with
# `npm ci`. Idempotent: skipped when node_modules was installed from the current lockfile.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
stamp="$here/node_modules/.wormvault-stamp"
want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x node_modules/.bin/azurite-blob ]]; then
  echo "azurite: reusing existing node_modules"
  exit 0
fi

command -v npm >/dev/null || { echo "azurite: npm not found (install Node.js 20+)" >&2; exit 2; }
echo "azurite: installing with npm ci (about 30 s)"
npm ci --no-audit --no-fund --loglevel=error
test -x node_modules/.bin/azurite-blob
echo "$want" > "$stamp"
echo "azurite: installed"
