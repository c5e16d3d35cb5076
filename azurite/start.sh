#!/usr/bin/env bash
# Start Azurite's blob service on 127.0.0.1:10000 in the background (in-memory, no telemetry,
# any x-ms-version accepted) and wait until it answers HTTP. A second start while running is a
# no-op. Flags: /work/shared/spec/emulators.md ("Azurite"). Run install.sh first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="$here/.state"
pidfile="$state/azurite.pid"
log="$state/azurite.log"
url="http://127.0.0.1:10000/devstoreaccount1?comp=properties&restype=service"
timeout="${AZURITE_START_TIMEOUT:-60}"

answers() {
  # Any HTTP status proves the server is up (without a signature Azurite answers 403).
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null || true)"
  [[ -n "$code" && "$code" != "000" ]]
}
alive() { [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

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

# setsid: own session and process group, so stop.sh can end Azurite and any child at once.
# It runs in the state dir so nothing lands in the caller's working directory (--location cannot
# be combined with --inMemoryPersistence).
cd "$state"
setsid bash -c 'echo $$ > "$1"; shift; exec "$@"' _ "$pidfile" \
  node "$entry" --blobHost 127.0.0.1 --blobPort 10000 \
  --inMemoryPersistence --disableTelemetry --skipApiVersionCheck >>"$log" 2>&1 </dev/null &

started=$SECONDS
while ! answers; do
  if (( SECONDS - started >= timeout )); then
    echo "azurite: not answering after ${timeout}s; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    bash "$here/stop.sh" >&2 || true
    exit 1
  fi
  if [[ -f "$pidfile" ]] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "azurite: process exited during startup; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    rm -f "$pidfile"
    exit 1
  fi
  sleep 0.2
done
echo "azurite: answering (pid $(cat "$pidfile")) at http://127.0.0.1:10000/devstoreaccount1 after $((SECONDS - started))s; log $log"
