#!/usr/bin/env bash
# Install Debian's chromium (used by the test that opens the handoff HTML report in a headless
# browser). A no-op when it is already installed; needs root (apt-get) otherwise.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "chromium: $(chromium --version 2>/dev/null || echo installed)"
  exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "chromium: not installed and not root; install Debian's 'chromium' package to run the HTML report test" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "chromium: installed $(chromium --version 2>/dev/null)"
