#!/usr/bin/env bash
# Start Azurite's blob service on 127.0.0.1:10000 in the background (in-memory, no telemetry,
# any x-ms-version accepted) and wait until it answers HTTP. A second start while running is a
# no-op. Flags: /work/shared/spec/emulators.md ("Azurite"). Run install.sh first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../scripts/start-service.sh
source "$here/../scripts/start-service.sh"
state="$here/.state"
pidfile="$state/azurite.pid"
log="$state/azurite.log"
url="http://127.0.0.1:10000/devstoreaccount1?comp=properties&restype=service"
timeout="${AZURITE_START_TIMEOUT:-60}"

answers() { svc_http_answers "$url"; }
alive() { svc_alive "$pidfile"; }

if answers; then
  if alive; then
    echo "azurite: already running (pid $(cat "$pidfile")) at http://127.0.0.1:10000/devstoreaccount1"
  else
    echo "azurite: something already answers on 127.0.0.1:10000 (not started by this script)"
  fi
  exit 0
fi
if alive; then
  echo "azurite: pid $(cat "$pidfile") is alive but not answering; stopping it first"
  bash "$here/stop.sh"
fi

entry="$here/node_modules/azurite/dist/src/blob/main.js"
[[ -f "$entry" ]] || { echo "azurite: not installed ($entry missing); run azurite/install.sh first" >&2; exit 2; }

mkdir -p "$state"
: > "$log"

# Own session and process group (svc_launch), so stop.sh can end Azurite and any child at once.
# It runs in the state dir so nothing lands in the caller's working directory (--location cannot
# be combined with --inMemoryPersistence).
cd "$state"
started=$SECONDS
svc_launch "$pidfile" "$log" \
  node "$entry" --blobHost 127.0.0.1 --blobPort 10000 \
  --inMemoryPersistence --disableTelemetry --skipApiVersionCheck

waited=0
svc_wait "$pidfile" "$timeout" 0.2 answers || waited=$?
if (( waited == 1 )); then
  echo "azurite: not answering after ${timeout}s; last lines of $log:" >&2
  tail -n 30 "$log" >&2
  bash "$here/stop.sh" >&2 || true
  exit 1
elif (( waited == 2 )); then
  echo "azurite: process exited during startup; last lines of $log:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
echo "azurite: answering (pid $(cat "$pidfile")) at http://127.0.0.1:10000/devstoreaccount1 after $((SECONDS - started))s; log $log"
