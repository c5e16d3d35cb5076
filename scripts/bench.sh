#!/usr/bin/env bash
# Every benchmark in one go, one table (issue #19): measure | wormvault | baseline | ratio |
# limit | load. Each bench keeps its own script (scripts/bench-*.sh, full output in the log) and
# prints `BENCH …` lines (scripts/bench/lib.sh) that this script collects, so every figure in
# the README comes from one run on one machine.
#
#   bash scripts/bench.sh                 # full sizes (1 GiB files, 1M audit records, …)
#   BENCH_QUICK=1 bash scripts/bench.sh   # small sizes, a few minutes on a quiet machine
#   BENCH_ONLY="verify audit" bash scripts/bench.sh   # a subset: verify audit audit-store s3 azure hold
#
# The limit column is the physical floor where one exists: SHA-256 of one core (or of every core
# for parallel work) from `openssl speed -bytes 16384 sha256` measured at the start. Ratios are
# "higher is better for wormvault". The load column is /proc/loadavg when the figure was taken:
# on a shared machine, rerun when it is high.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/bench/lib.sh

only="${BENCH_ONLY:-verify audit audit-store s3 azure hold}"
log="${BENCH_LOG:-target/bench.log}"
mkdir -p "$(dirname "$log")"
: > "$log"

echo "== SHA-256 floor (openssl speed -bytes 16384 sha256), load $(bench_load)"
floor=$(sha256_floor)
echo "   $floor bytes/s per core, $(nproc) cores" | tee -a "$log"

# One release build for every bench (BENCH_SKIP_BUILD=1: use target/release/wormvault as is).
[[ -n "${BENCH_SKIP_BUILD:-}" ]] || cargo build --release --quiet || exit 2
export BENCH_SKIP_BUILD=1

quick="${BENCH_QUICK:-}"
run() { # name script [env...]
    local name=$1 script=$2; shift 2
    case " $only " in *" $name "*) ;; *) return 0 ;; esac
    if [[ ! -f "$script" ]]; then
        echo "== $name: $script not present, skipped" | tee -a "$log"
        return 0
    fi
    echo "== $name: $script (load $(bench_load))" | tee -a "$log"
    if ! env "$@" bash "$script" >> "$log" 2>&1; then
        echo "   $name FAILED (see $log)" | tee -a "$log"
        echo "BENCH measure=\"$name\" unit=\"-\" wormvault=FAILED baseline=- baseline_name=\"-\" ratio=- limit=- load=\"$(bench_load)\"" >> "$log"
    fi
}

if [[ -n "$quick" ]]; then
    run verify scripts/bench-verify.sh BENCH_SIZE_MIB=128 BENCH_SMALL_FILES=500 BENCH_RUNS=1
    run audit scripts/bench-audit.sh BENCH_RECORDS=100000
    run audit-store scripts/bench-audit-store.sh BENCH_WRITERS=4 BENCH_APPENDS=50 BENCH_RECORDS=5000
    run s3 scripts/bench-s3.sh BENCH_LARGE_MB=256 BENCH_SMALL_COUNT=32 BENCH_SMALL_KB=256
    run azure scripts/bench-azure.sh BENCH_MB=256
    run hold scripts/bench-hold.sh BENCH_OBJECTS=300 BENCH_AWS_SAMPLE=30
else
    run verify scripts/bench-verify.sh
    run audit scripts/bench-audit.sh
    run audit-store scripts/bench-audit-store.sh
    run s3 scripts/bench-s3.sh
    run azure scripts/bench-azure.sh
    run hold scripts/bench-hold.sh
fi

echo
python3 - "$log" <<'PY'
import shlex, sys
rows = []
for line in open(sys.argv[1], errors="replace"):
    if line.startswith("BENCH "):
        fields = dict(part.split("=", 1) for part in shlex.split(line[6:]) if "=" in part)
        rows.append(fields)
head = ("measure", "unit", "wormvault", "baseline", "ratio", "limit", "load")
table = [head] + [(
    r.get("measure", "?"), r.get("unit", "-"), r.get("wormvault", "-"),
    f'{r.get("baseline", "-")} ({r.get("baseline_name", "-")})', r.get("ratio", "-"),
    r.get("limit", "-"), r.get("load", "-")) for r in rows]
widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
for n, row in enumerate(table):
    print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    if n == 0:
        print("-+-".join("-" * w for w in widths))
if not rows:
    print("no BENCH lines collected; see the log")
PY
echo "(full output: $log)"
