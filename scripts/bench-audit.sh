#!/usr/bin/env bash
# Audit-log verification benchmark: generates HMAC-signed CAVRA logs (100k and 1M records),
# verifies them with wormvault (release build) and with a straightforward Python verifier doing
# the same checks (scripts/bench/audit_verify.py), and prints records/s, the ratio, and peak
# memory (max RSS) for both sizes to show wormvault's memory does not grow with log size.
# Usage: scripts/bench-audit.sh [RECORDS]   (default 1000000, or BENCH_RECORDS; WORK=dir to keep
# the logs). Also prints the hashing floor (issue #19): ~27 SHA-256 blocks of 64 bytes a record
# (payload hash, HMAC, Merkle leaf and node) at `openssl speed`'s rate on every core, and a
# `BENCH` line for scripts/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench/lib.sh
records="${1:-${BENCH_RECORDS:-1000000}}"
small=$(( records / 10 ))
work="${WORK:-$(mktemp -d)}"
mkdir -p "$work"
key_file="$work/hmac.key"
printf 'bench-secret' > "$key_file"

[[ -n "${BENCH_SKIP_BUILD:-}" ]] || cargo build --release --quiet
bin="target/release/wormvault"
floor=$(sha256_floor)

gen() { # file count
  if [[ ! -s "$1" ]]; then
    echo "generating $2 records -> $1" >&2
    python3 scripts/bench/audit_gen.py "$1" "$2" bench-secret bench-key
  fi
}
gen "$work/small.jsonl" "$small"
gen "$work/large.jsonl" "$records"

# Run a command under /usr/bin/time -v (or poll VmHWM); print "seconds max_rss_kib".
measure() {
  local out="$work/measure.$$"
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -v "$@" > "$work/stdout.$$" 2> "$out" || { cat "$out" >&2; return 1; }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out")
    # wall is [h:]m:ss.ss
    python3 -c "import sys; p=sys.argv[1].split(':'); s=sum(float(x)*60**i for i,x in enumerate(reversed(p))); print(f'{s:.3f} {sys.argv[2]}')" "$wall" "$rss"
  else
    local start end peak=0
    start=$(date +%s.%N)
    "$@" > "$work/stdout.$$" & local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      local hwm; hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      [[ -n "$hwm" && "$hwm" -gt "$peak" ]] && peak=$hwm
      sleep 0.05
    done
    wait "$pid"
    end=$(date +%s.%N)
    python3 -c "print(f'{$end-$start:.3f} $peak')"
  fi
}

check_valid() { grep -q '"valid": *true' "$work/stdout.$$" || { echo "verification did not pass:" >&2; head -c 2000 "$work/stdout.$$" >&2; exit 1; }; }

read -r w_small_s w_small_rss < <(measure "$bin" --json audit verify --log "$work/small.jsonl" --key-file "$key_file" --key-id bench-key); check_valid
read -r w_large_s w_large_rss < <(measure "$bin" --json audit verify --log "$work/large.jsonl" --key-file "$key_file" --key-id bench-key); check_valid
read -r p_small_s p_small_rss < <(measure python3 scripts/bench/audit_verify.py "$work/small.jsonl" bench-secret bench-key); check_valid
read -r p_large_s p_large_rss < <(measure python3 scripts/bench/audit_verify.py "$work/large.jsonl" bench-secret bench-key); check_valid

python3 - "$records" "$small" "$w_small_s" "$w_small_rss" "$w_large_s" "$w_large_rss" "$p_small_s" "$p_small_rss" "$p_large_s" "$p_large_rss" "$(nproc)" "$floor" "$(bench_load)" <<'PY'
import sys
n, m = int(sys.argv[1]), int(sys.argv[2])
ws, wsr, wl, wlr, ps, psr, pl, plr = map(float, sys.argv[3:11])
cores = sys.argv[11]
floor_bps, load = float(sys.argv[12]), sys.argv[13]
limit = floor_bps * int(cores) / (27 * 64)
print(f"audit verify benchmark (HMAC-signed records, {cores} cores, shared machine)")
print(f"  wormvault  {m:>9,} records: {m/ws:>12,.0f} records/s  ({ws:.2f} s)  peak RSS {wsr/1024:,.1f} MiB")
print(f"  wormvault  {n:>9,} records: {n/wl:>12,.0f} records/s  ({wl:.2f} s)  peak RSS {wlr/1024:,.1f} MiB")
print(f"  python     {m:>9,} records: {m/ps:>12,.0f} records/s  ({ps:.2f} s)  peak RSS {psr/1024:,.1f} MiB")
print(f"  python     {n:>9,} records: {n/pl:>12,.0f} records/s  ({pl:.2f} s)  peak RSS {plr/1024:,.1f} MiB")
print(f"  ratio at {n:,} records: wormvault is {(n/wl)/(n/pl):.1f}x the Python verifier (target >= 50x)")
print(f"  wormvault peak memory {m:,} -> {n:,} records: {wsr/1024:,.1f} MiB -> {wlr/1024:,.1f} MiB")
print(f"  hashing floor: {limit:,.0f} records/s (27 SHA-256 blocks a record, {floor_bps/1e9:.2f} GB/s per core x {cores}); wormvault at {100*(n/wl)/limit:.0f}% of it (target >= 70%)")
print(f'BENCH measure="audit verify, {n:,} HMAC records" unit="records/s" wormvault={n/wl:.0f} baseline={n/pl:.0f} baseline_name="python verifier" ratio={(n/wl)/(n/pl):.1f} limit={limit:.0f} load="{load}"')
print(f'BENCH measure="audit verify peak RSS, {m:,} -> {n:,} records" unit="MiB" wormvault={wsr/1024:.1f}->{wlr/1024:.1f} baseline={psr/1024:.1f}->{plr/1024:.1f} baseline_name="python verifier" ratio=- limit=- load="{load}"')
PY
rm -f "$work"/stdout.* "$work"/measure.*
