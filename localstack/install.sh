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

# LocalStack's index of every AWS service spec ("service catalog"), which its request router needs
# for any request it cannot place cheaply (the first CreateBucket of a run, for one). Without a
# prebuilt copy the first such request after every start parses ~400 service specs (~2 s of the
# single Python process). The Docker image builds it at image build time with this same command;
# start.sh copies it into each fresh state. Its file name carries the LocalStack and botocore
# versions, so a stale copy is never used.
catalog_root="$venv/static-root"
build_catalog() {
  if ! compgen -G "$catalog_root/usr/lib/localstack/service-catalog-*.dill" >/dev/null; then
    mkdir -p "$catalog_root/usr/lib/localstack"
    FILESYSTEM_ROOT="$catalog_root" OVERRIDE_IN_DOCKER=0 "$venv/bin/python" -m localstack.aws.spec
    echo "localstack: service catalog index built in $catalog_root/usr/lib/localstack"
  fi
}

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
   && "$venv/bin/python" -c 'import localstack.runtime.main' 2>/dev/null; then
  build_catalog
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
build_catalog
echo "$want" > "$stamp"
echo "localstack: installed"
