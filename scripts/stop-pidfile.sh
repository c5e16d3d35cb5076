#!/usr/bin/env bash
# Shared by localstack/stop.sh and azurite/stop.sh: stop a process that start.sh launched as the
# leader of its own session (setsid), together with every process in its group.
# Usage: stop-pidfile.sh <name> <pidfile>
set -euo pipefail
name="$1"
pidfile="$2"

if [[ ! -f "$pidfile" ]]; then
  echo "$name: not running (no PID file $pidfile)"
  exit 0
fi
pid="$(cat "$pidfile")"
if ! [[ "$pid" =~ ^[0-9]+$ ]]; then
  echo "$name: PID file $pidfile holds '$pid', not a PID; removing it" >&2
  rm -f "$pidfile"
  exit 1
fi

group_alive() { pgrep -g "$pid" >/dev/null 2>&1 || kill -0 "$pid" 2>/dev/null; }

if ! group_alive; then
  echo "$name: pid $pid already gone; removing stale PID file"
  rm -f "$pidfile"
  exit 0
fi

# The process is its group's leader (setsid), so -pid addresses it and all its children.
kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 100); do            # up to 10 s for a clean shutdown
  group_alive || break
  sleep 0.1
done
if group_alive; then
  echo "$name: still running after 10 s; sending SIGKILL to process group $pid" >&2
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    group_alive || break
    sleep 0.1
  done
fi
if group_alive; then
  echo "$name: processes of group $pid survived SIGKILL:" >&2
  pgrep -a -g "$pid" >&2 || true
  exit 1
fi
rm -f "$pidfile"
echo "$name: stopped (pid $pid)"
