#!/usr/bin/env bash
# Create azurite/.venv (git-ignored) with the official Azure Python SDK, pinned. Used only by the
# wire-conformance test and scripts/bench-azure.sh; the stand-in itself needs no packages.
# Idempotent: reuses the venv when the pinned version is already installed.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="$here/.venv"
pin="azure-storage-blob==12.31.1"
py="${PYTHON:-python3}"
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('azure-storage-blob') == '12.31.1' else 1)" 2>/dev/null; then
  echo "pyvenv: reusing $venv"
  exit 0
fi
"$py" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "$pin"
echo "pyvenv: installed $pin into $venv"
