#!/usr/bin/env bash
# The README's test command (and what .ci/run executes): build the tests, install and start the
# emulators (LocalStack, Azurite, and the Azure WORM stand-in when present) unless they already
# run, run the whole test suite against them, stop only what this script started, and exit with
# the tests' status.
#
#   bash scripts/test.sh                 # everything: cargo test --all-targets
#   bash scripts/test.sh --test it smoke::   # extra args replace --all-targets
#
# With CI=true, emulator tests fail (never skip) when an emulator is unreachable.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

cargo_args=("$@")
(( ${#cargo_args[@]} )) || cargo_args=(--all-targets)

# Endpoints and credentials every emulator test reads (tests/it/support/mod.rs).
export WORMVAULT_S3_ENDPOINT=http://127.0.0.1:4566
export WORMVAULT_AZURITE_ENDPOINT=http://127.0.0.1:10000/devstoreaccount1
export WORMVAULT_AZURE_WORM_ENDPOINT=http://127.0.0.1:10001/devstoreaccount1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true   # never wait on instance metadata for credentials/region
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

s3_up() {
  curl -fsS --max-time 2 http://127.0.0.1:4566/_localstack/health 2>/dev/null \
    | grep -Eq '"s3": *"(available|running)"'
}
http_answers() {  # any HTTP status counts: unsigned requests get 403 from Azurite
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true)"
  [[ -n "$code" && "$code" != "000" ]]
}
azurite_up() { http_answers "http://127.0.0.1:10000/devstoreaccount1?comp=properties&restype=service"; }
standin_up() { http_answers "http://127.0.0.1:10001/devstoreaccount1?comp=properties&restype=service"; }

secs() { printf '%d.%01ds' $(( $1 / 1000 )) $(( $1 % 1000 / 100 )); }
now_ms() { date +%s%3N; }

t_all=$(now_ms)
started=()   # stop scripts of what this run started, in start order
install_pids=()  # emulator installs still running (killed if the run ends before they do)
timings=""   # filled in as phases finish; printed on exit whatever happened
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local i t
  for i in "${install_pids[@]}"; do pkill -P "$i" 2>/dev/null || true; kill "$i" 2>/dev/null || true; done
  t=$(now_ms)
  for (( i=${#started[@]}-1; i>=0; i-- )); do
    bash "${started[$i]}" || { echo "test.sh: ${started[$i]} failed" >&2; (( status )) || status=1; }
  done
  if (( ${#started[@]} )); then timings+=", stop $(secs $(( $(now_ms) - t )))"; fi
  echo "== timings: ${timings#, }, whole run $(secs $(( $(now_ms) - t_all )))"
  if (( status == 0 )); then echo "== tests passed"; else echo "== FAILED (exit $status)" >&2; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The emulator installs are downloads, independent of each other and of the build: start them
# first, let them run while the tests compile, then report each one's output and status.
echo "== install emulators (in the background, while the tests build)"
t_install=$(now_ms)
mkdir -p target/emulator-install
bash localstack/install.sh >target/emulator-install/localstack.log 2>&1 & ls_pid=$!
bash azurite/install.sh >target/emulator-install/azurite.log 2>&1 & az_pid=$!
bash scripts/install-chromium.sh >target/emulator-install/chromium.log 2>&1 & cr_pid=$!
install_pids=("$ls_pid" "$az_pid" "$cr_pid")

echo "== build tests"
t=$(now_ms)
cargo test --no-run "${cargo_args[@]}"
timings+=", build $(secs $(( $(now_ms) - t )))"

echo "== wait for the emulator installs"
t=$(now_ms)
ls_rc=0; wait "$ls_pid" || ls_rc=$?
az_rc=0; wait "$az_pid" || az_rc=$?
cr_rc=0; wait "$cr_pid" || cr_rc=$?
cat target/emulator-install/localstack.log target/emulator-install/azurite.log target/emulator-install/chromium.log
if (( ls_rc || az_rc )); then
  echo "test.sh: emulator install failed (localstack exit $ls_rc, azurite exit $az_rc)" >&2
  exit 2
fi
if (( cr_rc )) && [[ "${CI:-}" == "true" ]]; then
  echo "test.sh: chromium install failed (exit $cr_rc); the HTML report test needs it under CI" >&2
  exit 2
fi
install_pids=()
timings+=", install $(secs $(( $(now_ms) - t_install ))) (waited $(secs $(( $(now_ms) - t ))) after the build)"

echo "== start emulators"
t=$(now_ms)
if s3_up; then
  echo "localstack: already running on 127.0.0.1:4566; using it (this run will not stop it)"
else
  started+=("$root/localstack/stop.sh")
  bash localstack/start.sh
fi
if azurite_up; then
  echo "azurite: already running on 127.0.0.1:10000; using it (this run will not stop it)"
else
  started+=("$root/azurite/stop.sh")
  bash azurite/start.sh
fi
if [[ -f azurite/standin/start.sh ]]; then
  if standin_up; then
    echo "azure stand-in: already running on 127.0.0.1:10001; using it (this run will not stop it)"
  else
    started+=("$root/azurite/standin/stop.sh")
    bash azurite/standin/start.sh
  fi
else
  echo "azure stand-in: azurite/standin/start.sh not present; not started"
fi
timings+=", start $(secs $(( $(now_ms) - t )))"

echo "== run tests (CI=${CI:-unset})"
t=$(now_ms)
test_rc=0
cargo test "${cargo_args[@]}" || test_rc=$?
timings+=", tests $(secs $(( $(now_ms) - t )))"

# The README's install command, into a scratch root. --debug and --target-dir reuse the binary the
# test build made (the same sources, lock file and features), so this checks that the package
# installs with its lock file and that the installed binary runs, without a second release build.
echo "== cargo install --locked --path . (debug profile, scratch root)"
t=$(now_ms)
install_root="$(mktemp -d)"
if cargo install --quiet --locked --debug --path . --root "$install_root" --target-dir target \
    && "$install_root/bin/wormvault" --version; then
  timings+=", install-check $(secs $(( $(now_ms) - t )))"
else
  echo "test.sh: cargo install --locked --path . failed" >&2
  (( test_rc )) || test_rc=1
fi
rm -rf "$install_root"
exit "$test_rc"
