#!/usr/bin/env bash
# Stop the LocalStack started by start.sh: signal its whole process group (it runs in its own
# session), wait for every member to exit, then remove the PID file.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pidfile="$here/.state/localstack.pid"
exec bash "$here/../scripts/stop-pidfile.sh" localstack "$pidfile"
