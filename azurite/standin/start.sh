#!/usr/bin/env bash
# Start the Azure WORM stand-in (TEST INFRASTRUCTURE, never a production target) on
# 127.0.0.1:10001 in front of Azurite on 127.0.0.1:10000, in the background, and wait until it
# answers. A second start while it runs is a no-op. Azurite must already run (azurite/start.sh).
#   WORM_STANDIN_CAPTURE=<file>  append one JSON line per received request (wire-conformance tests)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../../scripts/start-service.sh
source "$here/../../scripts/start-service.sh"
state="$here/../.state"
pidfile="$state/worm-standin.pid"
log="$state/worm-standin.log"
port="${WORM_STANDIN_PORT:-10001}"
upstream="${WORM_STANDIN_UPSTREAM:-127.0.0.1:10000}"
url="http://127.0.0.1:$port/devstoreaccount1?comp=properties&restype=service"

answers() { svc_http_answers "$url"; }
alive() { svc_alive "$pidfile"; }

if alive && answers; then
  echo "worm-standin: already running (pid $(cat "$pidfile")) on 127.0.0.1:$port"
  exit 0
fi
if answers; then
  echo "worm-standin: something already answers on 127.0.0.1:$port (not started by this script)"
  exit 0
fi
if alive; then
  echo "worm-standin: pid $(cat "$pidfile") alive but not answering; stopping it first"
  bash "$here/stop.sh"
fi

mkdir -p "$state"
: > "$log"
args=(--host 127.0.0.1 --port "$port" --upstream "$upstream")
[[ -n "${WORM_STANDIN_CAPTURE:-}" ]] && args+=(--capture "$WORM_STANDIN_CAPTURE")
# Own process group (svc_launch) so stop.sh ends exactly this process.
svc_launch "$pidfile" "$log" python3 "$here/worm_standin.py" "${args[@]}"

waited=0
svc_wait "$pidfile" 10 0.1 answers || waited=$?
if (( waited == 0 )); then
  echo "worm-standin: answering (pid $(cat "$pidfile")) on 127.0.0.1:$port -> $upstream; log $log"
  exit 0
elif (( waited == 2 )); then
  echo "worm-standin: exited during startup:" >&2; tail -n 20 "$log" >&2; exit 1
fi
echo "worm-standin: not answering after 10 s:" >&2
tail -n 20 "$log" >&2
bash "$here/stop.sh" >&2 || true
exit 1
