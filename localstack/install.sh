#!/usr/bin/env bash
# Install LocalStack (localstack-core runtime, no Docker) into localstack/.venv.
# Idempotent: a venv whose stamp matches the current requirements + constraints (and which still
# imports) is reused; otherwise it is rebuilt from scratch.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
stamp="$venv/.wormvault-stamp"
python="${WORMVAULT_PYTHON313:-$HOME/.pyenv/versions/3.13.0/bin/python}"

want="$(cat "$here/requirements.txt" "$here/constraints.txt" | sha256sum | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
   && "$venv/bin/python" -c 'import localstack.runtime.main' 2>/dev/null; then
  echo "localstack: reusing existing venv $venv"
  exit 0
fi

if [[ ! -x "$python" ]]; then
  echo "localstack: Python 3.13 not found at $python (LocalStack 2026.3 needs 3.13; set WORMVAULT_PYTHON313)" >&2
  exit 2
fi

echo "localstack: installing into $venv (about 1.5 minutes, ~500 MB)"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r "$here/requirements.txt" -c "$here/constraints.txt"
"$venv/bin/python" -c 'import localstack.runtime.main'
echo "$want" > "$stamp"
echo "localstack: installed"
