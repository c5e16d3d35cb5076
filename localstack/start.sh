#!/usr/bin/env bash
# Start LocalStack (S3, KMS, CloudFormation, STS, IAM) on 127.0.0.1:4566 in the background,
# without Docker, and wait until S3 reports healthy. A second start while healthy is a no-op.
# Env and flags: /work/shared/spec/emulators.md ("LocalStack"). Run install.sh first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../scripts/start-service.sh
source "$here/../scripts/start-service.sh"
venv="$here/.venv"
state="$here/.state"
pidfile="$state/localstack.pid"
log="$state/localstack.log"
health="http://127.0.0.1:4566/_localstack/health"
timeout="${LOCALSTACK_START_TIMEOUT:-90}"

s3_available() {
  # Health JSON looks like {"services": {"s3": "available", ...}, ...}; "running" once used.
  curl -fsS --max-time 2 "$health" 2>/dev/null | grep -Eq '"s3": *"(available|running)"'
}

alive() { svc_alive "$pidfile"; }

if s3_available; then
  if alive; then
    echo "localstack: already running (pid $(cat "$pidfile")) at http://127.0.0.1:4566"
  else
    echo "localstack: something already serves a healthy LocalStack on 127.0.0.1:4566 (not started by this script)"
  fi
  exit 0
fi
if alive; then
  echo "localstack: pid $(cat "$pidfile") is alive but not healthy; stopping it first"
  bash "$here/stop.sh"
fi

[[ -x "$venv/bin/python" ]] || { echo "localstack: no venv at $venv; run localstack/install.sh first" >&2; exit 2; }

# Fresh state each start (the free edition keeps nothing across restarts anyway).
rm -rf "$state/fs" "$state/cache" "$state/tmp"
mkdir -p "$state/fs" "$state/cache" "$state/tmp"
# The prebuilt service catalog index (install.sh), where LocalStack looks for it first.
if compgen -G "$venv/static-root/usr/lib/localstack/service-catalog-*.dill" >/dev/null; then
  mkdir -p "$state/fs/usr/lib/localstack"
  cp "$venv"/static-root/usr/lib/localstack/service-catalog-*.dill "$state/fs/usr/lib/localstack/"
fi
: > "$log"

# Own session and process group (svc_launch), so stop.sh can end LocalStack and every child at once.
started=$SECONDS
OVERRIDE_IN_DOCKER=0 \
FILESYSTEM_ROOT="$state/fs" \
SERVICES=s3,kms,cloudformation,sts,iam \
GATEWAY_LISTEN=127.0.0.1:4566 \
GATEWAY_SERVER=hypercorn \
DNS_ADDRESS=0 \
DISABLE_EVENTS=1 \
SKIP_SSL_CERT_DOWNLOAD=1 \
XDG_CACHE_HOME="$state/cache" \
TMPDIR="$state/tmp" \
svc_launch "$pidfile" "$log" "$venv/bin/python" -m localstack.runtime.main

waited=0
svc_wait "$pidfile" "$timeout" 0.3 s3_available || waited=$?
if (( waited == 1 )); then
  echo "localstack: not healthy after ${timeout}s; last lines of $log:" >&2
  tail -n 30 "$log" >&2
  bash "$here/stop.sh" >&2 || true
  exit 1
elif (( waited == 2 )); then
  echo "localstack: process exited during startup; last lines of $log:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
echo "localstack: healthy (pid $(cat "$pidfile")) at http://127.0.0.1:4566 after $((SECONDS - started))s; log $log"
