#!/usr/bin/env bash
# Benchmark: the same evidence file uploaded to Azurite through the WORM stand-in (127.0.0.1:10001)
# by `wormvault archive` and by the official Python SDK's parallel
# `upload_blob(..., max_concurrency=N)`. Prints both times, the ratio and wormvault's peak RSS
# (target: faster than the SDK, peak RSS < 200 MB).
#
#   bash scripts/bench-azure.sh            # BENCH_MB=1024 BENCH_CONCURRENCY=4 by default
#   BENCH_DIRECT=0 skips the second pair of runs straight to Azurite (no proxy);
#   BENCH_MD5=0 skips the archive run with the whole-blob Content-MD5 turned on;
#   BENCH_REQ_SMALL / BENCH_REQ_LARGE (default 4 / 20) small files for the request count;
#   BENCH_REPEAT=N (default 3) runs of each client per comparison, interleaved; medians reported.
#
# What each side does (issue #19: compare like with like):
# - wormvault archive: verify the bundle (SHA-256 of every byte, shared with the upload: the file
#   is hashed once), plan, preflight (container properties), then per blob of more than one
#   block: existence check, stage 8 MiB blocks each with a transactional CRC64 (the checksum the
#   service verifies), wait for the content check, Put Block List create-only with the SHA-256 in
#   metadata and the tags, immutability policy + legal hold, read-back (properties + tags); per
#   blob of at most one block: one create-only Put Blob with its CRC64, metadata, tags, policy and
#   hold, read-back (properties + tags); receipts. The whole-blob
#   Content-MD5 is off by default (Azure does not check it on Put Block List); a separate run
#   with WORMVAULT_AZURE_CONTENT_MD5=1 shows what it costs.
# - Python SDK upload_blob: no hash, no checksum, no lock, no read-back; 4 MiB blocks, and one Put
#   Blob for a file of <= 64 MiB (its max_single_put_size).
#
# Client cost (issue #19 item 2): CPU seconds (user + system) per GiB of each client — wormvault's
# whole process tree from /usr/bin/time, the SDK's from getrusage around its upload call (Python
# start-up and imports not charged to it) and, for comparison, its whole process. The parts of
# wormvault's figure: `bundle verify` alone on the same bundle (the hashing pass), the fixed cost
# of one process (an archive of a 1 KiB bundle), and the limit: one SHA-256 pass at
# `openssl speed` (scripts/bench/lib.sh) — no client that proves the content is below it.
# Target: wormvault <= 0.5x the SDK's upload call. At small sizes (bench.sh's quick BENCH_MB=64)
# wormvault's fixed cost per run (~0.05-0.09 s: preflight, manifest, receipts) weighs 16x per GiB
# and the SDK sends a single Put Blob, so judge the per-GiB figures on >= 256 MiB; a BENCH line
# also gives wormvault's figure without the fixed cost.
#
# Requests per object: a loopback counting proxy (scripts/bench/count_proxy.py) in front of the
# stand-in, in separate runs (the proxy's Python would slow the timed ones): the slope between an
# archive of BENCH_REQ_SMALL and BENCH_REQ_LARGE 4 KiB files is what one more small object costs
# (fixed costs cancel out), and the large file's requests by operation.
# Prints `BENCH` lines for scripts/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench/lib.sh
root="$(pwd)"
mb="${BENCH_MB:-1024}"
conc="${BENCH_CONCURRENCY:-4}"
work="$root/target/bench-azure"
endpoint="http://127.0.0.1:10001/devstoreaccount1"
export AZURE_STORAGE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="  # public Azurite dev key

started=()
cleanup() { for (( i=${#started[@]}-1; i>=0; i-- )); do bash "${started[$i]}" || true; done; }
trap cleanup EXIT
answers() { local c; c="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true)"; [[ -n "$c" && "$c" != "000" ]]; }
if ! answers "http://127.0.0.1:10000/devstoreaccount1?comp=properties&restype=service"; then
  bash azurite/install.sh && bash azurite/start.sh && started+=("$root/azurite/stop.sh")
fi
if ! answers "$endpoint?comp=properties&restype=service"; then
  bash azurite/standin/start.sh && started+=("$root/azurite/standin/stop.sh")
fi
bash azurite/standin/pyvenv.sh
py="$root/azurite/.venv/bin/python"

echo "== build (release)"
[[ -n "${BENCH_SKIP_BUILD:-}" ]] || cargo build --release --quiet
bin="${BENCH_BIN:-$root/target/release/wormvault}"

rm -rf "$work" && mkdir -p "$work/data" "$work/tiny"
echo "== ${mb} MiB of random evidence"
head -c "$((mb * 1024 * 1024))" /dev/urandom > "$work/data/evidence.bin"
"$bin" --quiet bundle create --unsigned --output "$work/bundle" "$work/data" >/dev/null
head -c 1024 /dev/urandom > "$work/tiny/evidence.bin"
"$bin" --quiet bundle create --unsigned --output "$work/tiny-bundle" "$work/tiny" >/dev/null
sync

container() {  # create ($2=PUT) or delete ($2=DELETE) a container on port $3, signed with the stand-in's stdlib signer
  "$py" - "$1" "$2" "$3" <<'PY'
import sys, http.client, datetime as dt
sys.path.insert(0, "azurite/standin")
import worm_standin as w
name, method, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
path = f"/devstoreaccount1/{name}"
h = {"x-ms-version": "2026-04-06", "x-ms-date": w.http_date(dt.datetime.now(dt.timezone.utc)), "Content-Length": "0"}
h["Authorization"] = "SharedKey devstoreaccount1:" + w.sign(w.DEV_KEY, w.string_to_sign(method, "devstoreaccount1", path, "restype=container", h))
c = http.client.HTTPConnection("127.0.0.1", port); c.request(method, path + "?restype=container", headers=h)
r = c.getresponse(); assert r.status in (201, 202), (r.status, r.read())
PY
}

# sdk_upload ENDPOINT CONTAINER FILE... -> "seconds cpu_seconds" of the upload calls (one blob per
# file, named after it); the whole process's CPU goes to $work/sdk.time via /usr/bin/time.
sdk_upload() {
  /usr/bin/time -f "%e %M %U %S" -o "$work/sdk.time" "$py" - "$conc" "$@" <<'PY'
import os, resource, sys, time
from azure.storage.blob import BlobServiceClient
conc, endpoint, container, paths = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
svc = BlobServiceClient(endpoint, credential={"account_name": "devstoreaccount1", "account_key": key}, api_version="2026-04-06")
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
start, cpu_start = time.monotonic(), cpu()
for path in paths:
    with open(path, "rb") as f:
        svc.get_blob_client(container, os.path.basename(path)).upload_blob(f, overwrite=False, max_concurrency=conc)
print(f"{time.monotonic() - start:.2f} {cpu() - cpu_start:.2f}")
PY
}

# cpu_of FILE: user + system seconds from a /usr/bin/time "%e %M %U %S" file.
cpu_of() { awk '{ printf "%.2f", $3 + $4 }' "$1"; }
per_gib() { awk -v c="$1" -v mb="$mb" 'BEGIN { printf "%.3f", c * 1024 / mb }'; }

stamp="$(date +%s)"
containers=()
new_container() { container "$1" PUT "$2"; containers+=("$1"); }
# Bench containers are removed on exit directly on Azurite (the stand-in would refuse: locked).
cleanup_containers() { for c in "${containers[@]}"; do container "$c" DELETE 10000 2>/dev/null || true; done; }
proxy_pid=""
stop_proxy() { [[ -n "$proxy_pid" ]] && kill "$proxy_pid" 2>/dev/null; proxy_pid=""; }
trap 'stop_proxy; cleanup_containers; cleanup' EXIT

floor_gib=$(awk -v f="$(sha256_floor)" 'BEGIN { printf "%.3f", 1073741824 / f }')
md5_floor_gib=$(openssl speed -seconds "${BENCH_OPENSSL_SECONDS:-2}" -bytes 16384 md5 2>/dev/null \
  | awk '$1 == "md5" { v = $2; sub(/k$/, "", v); printf "%.3f", 1073741824 / (v * 1000) }')

# archive NAME PORT CONTAINER BUNDLE [extra args...]: /usr/bin/time to $work/NAME.time
archive() {
  local name=$1 port=$2 cont=$3 bundle=$4; shift 4
  /usr/bin/time -f "%e %M %U %S" -o "$work/$name.time" \
    "$bin" --quiet archive "$bundle" --allow-unsigned "$@" \
    --to "azure+http://127.0.0.1:$port/devstoreaccount1/$cont/bench" --receipts-out "$work/$name.receipts.json" >/dev/null
}

echo "== parts: bundle verify alone (the SHA-256 pass), and an archive of a 1 KiB bundle (fixed cost)"
/usr/bin/time -f "%e %M %U %S" -o "$work/verify.time" "$bin" --quiet bundle verify "$work/bundle" --allow-unsigned >/dev/null
new_container "bench-tiny-$stamp" 10001
archive tiny 10001 "bench-tiny-$stamp" "$work/tiny-bundle"

# 1. Through the WORM stand-in (a single-process Python proxy: it bounds both clients).
# Each side runs $(bench_repeat) times, interleaved (wormvault, SDK, wormvault, …), each run into a
# container of its own; the medians are reported, every run's figures printed.
reps=$(bench_repeat)
# compare PORT SUFFIX [archive args...]: sets cmp_wv_s cmp_wv_kb cmp_wv_cpu cmp_py_s cmp_py_cpu
# cmp_py_proc (medians; the peak RSS is the largest).
compare() {
  local port=$1 sfx=$2; shift 2
  local ws=() wc=() ps=() pc=() pp=() r s kb c
  cmp_wv_kb=0
  for r in $(seq 1 "$reps"); do
    new_container "bench-wv$sfx-$stamp-$r" "$port"
    archive "wv$sfx-$r" "$port" "bench-wv$sfx-$stamp-$r" "$work/bundle" "$@"
    read -r s kb _ < "$work/wv$sfx-$r.time"
    ws+=("$s"); wc+=("$(cpu_of "$work/wv$sfx-$r.time")")
    (( kb > cmp_wv_kb )) && cmp_wv_kb=$kb
    new_container "bench-py$sfx-$stamp-$r" "$port"
    # (Through a file, not `< <(…)`: /usr/bin/time writes sdk.time only after the output is read.)
    sdk_upload "http://127.0.0.1:$port/devstoreaccount1" "bench-py$sfx-$stamp-$r" "$work/data/evidence.bin" > "$work/sdk.out"
    read -r s c < "$work/sdk.out"
    ps+=("$s"); pc+=("$c"); pp+=("$(cpu_of "$work/sdk.time")")
  done
  echo "  runs: wormvault ${ws[*]} s, CPU ${wc[*]} s; SDK ${ps[*]} s, CPU ${pc[*]} s (upload call)"
  cmp_wv_s=$(median "${ws[@]}"); cmp_wv_cpu=$(median "${wc[@]}")
  cmp_py_s=$(median "${ps[@]}"); cmp_py_cpu=$(median "${pc[@]}"); cmp_py_proc=$(median "${pp[@]}")
}
echo "== through the stand-in: wormvault archive (concurrency $conc per blob) and Python SDK upload_blob(max_concurrency=$conc), $reps runs each"
compare 10001 ""
wv_s=$cmp_wv_s wv_kb=$cmp_wv_kb wv_cpu=$cmp_wv_cpu py_s=$cmp_py_s py_cpu=$cmp_py_cpu py_proc_cpu=$cmp_py_proc
md5_cpu="-"
# Azurite keeps every blob in memory and refuses writes past its extent limit (409
# MemoryExtentStoreAtSizeLimit) after several GiB: when this script started it, it starts a fresh
# one (and stand-in) before each further batch of uploads. An Azurite that was already running is
# left alone (use a smaller BENCH_MB or BENCH_REPEAT with it).
fresh_azurite() {
  if (( ${#started[@]} == 2 )); then
    bash azurite/standin/stop.sh >/dev/null && bash azurite/stop.sh >/dev/null
    bash azurite/start.sh >/dev/null && bash azurite/standin/start.sh >/dev/null
    containers=()
  fi
}
if [[ "${BENCH_MD5:-1}" != 0 ]]; then
  fresh_azurite
  echo "== through the stand-in: wormvault archive with WORMVAULT_AZURE_CONTENT_MD5=1"
  new_container "bench-md5-$stamp" 10001
  WORMVAULT_AZURE_CONTENT_MD5=1 archive md5 10001 "bench-md5-$stamp" "$work/bundle"
  md5_cpu=$(cpu_of "$work/md5.time")
fi

report() {  # label wv_seconds wv_kb sdk_seconds wv_cpu sdk_cpu
  awk -v label="$1" -v wv="$2" -v kb="$3" -v py="$4" -v wvcpu="$5" -v pycpu="$6" -v mb="$mb" 'BEGIN {
    printf "[%s]\n", label;
    printf "  wormvault archive: %.2f s (%.0f MiB/s), peak RSS %.1f MB\n", wv, mb / wv, kb / 1024;
    printf "  python SDK upload: %.2f s (%.0f MiB/s)\n", py, mb / py;
    printf "  ratio (SDK time / wormvault time): %.2fx %s; peak RSS < 200 MB: %s\n", py / wv, (wv < py ? "(wormvault faster)" : "(wormvault slower)"), (kb / 1024 < 200 ? "met" : "NOT met");
    printf "  client CPU per GiB: wormvault %.2f s (whole archive), SDK %.2f s (upload call); wormvault/SDK %.2fx (target <= 0.50x)\n", wvcpu * 1024 / mb, pycpu * 1024 / mb, wvcpu / pycpu;
  }'
  bench_line "Azure archive wall time, $mb MiB, $1" "s" "$2" "$4" "python SDK upload_blob" "$(awk -v a="$2" -v b="$4" 'BEGIN { printf "%.2f", b / a }')" "-"
  bench_line "Azure client CPU per GiB, $1" "s/GiB" "$(per_gib "$5")" "$(per_gib "$6")" "python SDK upload_blob" "$(awk -v a="$5" -v b="$6" 'BEGIN { printf "%.2f", b / a }')" "$floor_gib"
}

# 2. Directly to Azurite (no proxy; nothing is locked, so wormvault needs the explicit flag).
if [[ "${BENCH_DIRECT:-1}" != 0 ]]; then
  fresh_azurite
  echo "== direct to Azurite: wormvault archive --accept-unenforced-storage and Python SDK upload_blob(max_concurrency=$conc), $reps runs each"
  compare 10000 d --accept-unenforced-storage
  wvd_s=$cmp_wv_s wvd_kb=$cmp_wv_kb wvd_cpu=$cmp_wv_cpu pyd_s=$cmp_py_s pyd_cpu=$cmp_py_cpu
fi

# 3. Requests per object, through the counting proxy in front of the stand-in.
req_small="${BENCH_REQ_SMALL:-4}"
req_large="${BENCH_REQ_LARGE:-20}"
proxy_port="${BENCH_PROXY_PORT:-10091}"
with_proxy() {  # COUNT_FILE COMMAND...: run COMMAND with the proxy up, print the total
  local count=$1; shift
  python3 scripts/bench/count_proxy.py "$proxy_port" 10001 "$count" & proxy_pid=$!
  # Wait for the port with a bare connect (no request, so nothing is counted).
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$proxy_port") 2>/dev/null && break; sleep 0.1; done
  "$@" >/dev/null
  stop_proxy
  awk '$2 == "total" { print $1 }' "$count"
}
small_files() {  # N -> directory of N 4 KiB files and its bundle
  local dir="$work/req-$1"
  rm -rf "$dir" && mkdir -p "$dir/data"
  for i in $(seq -w 1 "$1"); do head -c 4096 /dev/urandom > "$dir/data/f-$i.bin"; done
  "$bin" --quiet bundle create --unsigned --output "$dir/bundle" "$dir/data" >/dev/null
}
fresh_azurite
echo "== requests per object (counting proxy on 127.0.0.1:$proxy_port; $req_small and $req_large files of 4 KiB, and the large file)"
small_files "$req_small"; small_files "$req_large"
for n in "$req_small" "$req_large"; do
  new_container "bench-req-wv-$n-$stamp" 10001
  new_container "bench-req-py-$n-$stamp" 10001
done
new_container "bench-req-wv-large-$stamp" 10001
wv_r1=$(with_proxy "$work/req-wv-$req_small.count" archive req1 "$proxy_port" "bench-req-wv-$req_small-$stamp" "$work/req-$req_small/bundle")
wv_r2=$(with_proxy "$work/req-wv-$req_large.count" archive req2 "$proxy_port" "bench-req-wv-$req_large-$stamp" "$work/req-$req_large/bundle")
py_r1=$(with_proxy "$work/req-py-$req_small.count" sdk_upload "http://127.0.0.1:$proxy_port/devstoreaccount1" "bench-req-py-$req_small-$stamp" "$work/req-$req_small/data/"*)
py_r2=$(with_proxy "$work/req-py-$req_large.count" sdk_upload "http://127.0.0.1:$proxy_port/devstoreaccount1" "bench-req-py-$req_large-$stamp" "$work/req-$req_large/data/"*)
wv_rl=$(with_proxy "$work/req-wv-large.count" archive reql "$proxy_port" "bench-req-wv-large-$stamp" "$work/bundle")
wv_per=$(awk -v a="$wv_r1" -v b="$wv_r2" -v n="$req_small" -v m="$req_large" 'BEGIN { printf "%.2f", (b - a) / (m - n) }')
py_per=$(awk -v a="$py_r1" -v b="$py_r2" -v n="$req_small" -v m="$req_large" 'BEGIN { printf "%.2f", (b - a) / (m - n) }')

echo
echo "load: $(bench_load)"
echo "limits on this machine: one SHA-256 pass $floor_gib s/GiB, one MD5 pass $md5_floor_gib s/GiB (openssl speed, 16 KiB blocks, one core)"
report "through the WORM stand-in (:10001)" "$wv_s" "$wv_kb" "$py_s" "$wv_cpu" "$py_cpu"
verify_cpu=$(cpu_of "$work/verify.time"); tiny_cpu=$(cpu_of "$work/tiny.time")
awk -v wv="$wv_cpu" -v ver="$verify_cpu" -v tiny="$tiny_cpu" -v md5="$md5_cpu" -v py="$py_cpu" -v pyproc="$py_proc_cpu" -v floor="$floor_gib" -v mb="$mb" 'BEGIN {
  g = mb / 1024;
  printf "  where wormvault'"'"'s CPU goes (s/GiB; %d MiB):\n", mb;
  printf "    whole archive                          %6.2f\n", wv / g;
  printf "    bundle verify alone (hashing pass)     %6.2f   (limit: one SHA-256 pass %.2f)\n", ver / g, floor;
  printf "    fixed cost of one archive (1 KiB)      %6.2f s per run, not per GiB\n", tiny;
  printf "    archive minus fixed cost               %6.2f   (%.2fx the SDK upload call)\n", (wv - tiny) / g, (wv - tiny) / py;
  printf "    archive minus fixed cost minus verify  %6.2f   (uploading: read, CRC64, HTTP, read-back)\n", (wv - tiny - ver) / g;
  if (md5 != "-") printf "    archive with Content-MD5 on            %6.2f   (+%.2f for the MD5)\n", md5 / g, (md5 - wv) / g;
  printf "  python SDK (no hash): upload call %.2f s/GiB, whole process %.2f s/GiB (start-up and imports %.2f s)\n", py / g, pyproc / g, pyproc - py;
}'
wv_var_gib=$(awk -v c="$wv_cpu" -v t="$tiny_cpu" -v mb="$mb" 'BEGIN { printf "%.3f", (c - t) * 1024 / mb }')
bench_line "Azure client CPU per GiB without the fixed cost, through the WORM stand-in (:10001)" "s/GiB" "$wv_var_gib" "$(per_gib "$py_cpu")" "python SDK upload_blob" "$(awk -v a="$wv_var_gib" -v b="$(per_gib "$py_cpu")" 'BEGIN { printf "%.2f", b / a }')" "$floor_gib"
if [[ "${BENCH_DIRECT:-1}" != 0 ]]; then
  report "direct to Azurite (:10000)" "$wvd_s" "$wvd_kb" "$pyd_s" "$wvd_cpu" "$pyd_cpu"
fi
echo "requests per small object: wormvault archive $wv_per ($wv_r1 for $req_small files, $wv_r2 for $req_large), python SDK upload_blob $py_per ($py_r1, $py_r2)"
echo "  wormvault by operation ($req_large files):"; sed 's/^/    /' "$work/req-wv-$req_large.count"
echo "  wormvault, the ${mb} MiB bundle ($wv_rl requests) by operation:"; sed 's/^/    /' "$work/req-wv-large.count"
bench_line "Azure requests per small object" "requests" "$wv_per" "$py_per" "python SDK upload_blob" "$(awk -v a="$wv_per" -v b="$py_per" 'BEGIN { printf "%.2f", b / a }')" "-"
uptime
