#!/usr/bin/env bash
# Stop the Azure WORM stand-in started by start.sh (by the PID in azurite/.state, never by name).
# No-op when it is not running.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pidfile="$here/../.state/worm-standin.pid"
if [[ ! -f "$pidfile" ]]; then
  echo "worm-standin: not running (no PID file)"
  exit 0
fi
pid="$(cat "$pidfile")"
[[ "$pid" =~ ^[0-9]+$ ]] || { echo "worm-standin: bad PID file ($pid); removing" >&2; rm -f "$pidfile"; exit 1; }
if ! kill -0 "$pid" 2>/dev/null; then
  echo "worm-standin: pid $pid already gone"
  rm -f "$pidfile"
  exit 0
fi
kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 50); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.2
fi
if kill -0 "$pid" 2>/dev/null; then
  echo "worm-standin: pid $pid survived SIGKILL" >&2
  exit 1
fi
rm -f "$pidfile"
echo "worm-standin: stopped (pid $pid)"
