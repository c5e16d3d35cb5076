# Shared helpers for scripts/bench-*.sh (sourced, not run).
#
# sha256_floor: one core's SHA-256 speed on this machine, bytes/s, from
#   `openssl speed -bytes 16384 sha256` (the physical limit verification is judged against;
#   issue #19). Cached per run in $BENCH_SHA256_FLOOR so bench.sh measures it once.
# median N...: the median of the numbers given (the lower of the two middle ones for an even
#   count). The client comparisons run each side BENCH_REPEAT times (default 3), interleaved,
#   and report the median of each: one run of a Python client on this shared 2-core VM can be
#   off by 2x (the AWS CLI's CPU per GiB has read 3.66 to 9.15 s across sessions).
# bench_line: print the machine-readable line bench.sh collects:
#   BENCH measure="…" unit="…" wormvault=N baseline=N baseline_name="…" ratio=R limit=N|- load="…"
#   ratio is wormvault / baseline in the unit's direction (>1 means wormvault is better).
#
# Sourcing it also points WORMVAULT_STATE_DIR (where `archive` records its sessions) at
# target/bench-state, unless set: bench archives would otherwise fill .wormvault/ in the
# directory the bench ran from.

export WORMVAULT_STATE_DIR="${WORMVAULT_STATE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/target/bench-state}"

sha256_floor() {
    if [[ -z "${BENCH_SHA256_FLOOR:-}" ]]; then
        BENCH_SHA256_FLOOR=$(openssl speed -seconds "${BENCH_OPENSSL_SECONDS:-2}" -bytes 16384 sha256 2>/dev/null \
            | awk '$1 == "sha256" { v = $2; sub(/k$/, "", v); printf "%.0f", v * 1000 }')
        export BENCH_SHA256_FLOOR
    fi
    echo "$BENCH_SHA256_FLOOR"
}

bench_load() { cut -d' ' -f1-3 /proc/loadavg; }

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
bench_repeat() { echo "${BENCH_REPEAT:-3}"; }

# bench_line MEASURE UNIT WORMVAULT BASELINE BASELINE_NAME RATIO LIMIT
bench_line() {
    printf 'BENCH measure="%s" unit="%s" wormvault=%s baseline=%s baseline_name="%s" ratio=%s limit=%s load="%s"\n' \
        "$1" "$2" "$3" "$4" "$5" "$6" "${7:--}" "$(bench_load)"
}
