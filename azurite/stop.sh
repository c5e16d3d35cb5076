#!/usr/bin/env bash
# Stop the Azurite started by start.sh: signal its whole process group (it runs in its own
# session), wait for every member to exit, then remove the PID file.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec bash "$here/../scripts/stop-pidfile.sh" azurite "$here/.state/azurite.pid"
