#!/usr/bin/env bash
# Shared by localstack/start.sh, azurite/start.sh and azurite/standin/start.sh (sourced, not run):
# the one shape every emulator start script has — is it already up, launch it in the background as
# the leader of its own session with a PID file and a log, wait until it answers. Each script keeps
# its own probe, command line and message lines; stopping is scripts/stop-pidfile.sh.
# Everything here is relative to the paths the caller passes: nothing outside the repo is used.

# svc_http_answers <url>: any HTTP status proves a server is up (an unsigned request to Azurite
# gets 403); only "no connection" (curl's 000) is not.
svc_http_answers() {
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true)"
  [[ -n "$code" && "$code" != "000" ]]
}

# svc_alive <pidfile>: the PID file exists and its process is alive.
svc_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# svc_launch <pidfile> <log> <command...>: start the command in the background under setsid, so
# it leads its own session and process group (stop-pidfile.sh ends it and every child at once);
# the PID file holds the leader's PID before the command runs; output goes to <log>.
svc_launch() {
  local pidfile="$1" log="$2"
  shift 2
  setsid bash -c 'echo $$ > "$1"; shift; exec "$@"' _ "$pidfile" "$@" >>"$log" 2>&1 </dev/null &
}

# svc_wait <pidfile> <timeout-seconds> <poll-seconds> <probe...>: poll until the probe command
# succeeds. Returns 0 once it does, 1 after the timeout, 2 when the launched process exited first
# (its PID file is then removed). The caller prints its own message and stops what it started.
svc_wait() {
  local pidfile="$1" timeout="$2" poll="$3" started=$SECONDS
  shift 3
  while ! "$@"; do
    if (( SECONDS - started >= timeout )); then
      return 1
    fi
    if [[ -f "$pidfile" ]] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      rm -f "$pidfile"
      return 2
    fi
    sleep "$poll"
  done
  return 0
}
