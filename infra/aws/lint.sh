#!/usr/bin/env bash
# Lint the CloudFormation templates in infra/aws/ with cfn-lint (PyPI), installed on first use
# into the git-ignored venv infra/.venv, pinned by infra/aws/requirements-lint.txt.
# Exit status is cfn-lint's: 0 clean, non-zero on any error or warning.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/../.venv"
requirements="$here/requirements-lint.txt"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/cfn-lint" ]] || ! cmp -s "$requirements" "$venv/.requirements-lint.txt"; then
  echo "lint: installing cfn-lint into $venv" >&2
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/.requirements-lint.txt"
fi

templates=("$here"/*.yaml)
echo "lint: cfn-lint $("$venv/bin/cfn-lint" --version | awk '{print $2}') on ${templates[*]#"$here/"}" >&2
"$venv/bin/cfn-lint" --regions us-east-1 -- "${templates[@]}"
echo "lint: clean" >&2
