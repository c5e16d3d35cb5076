#!/usr/bin/env bash
# Benchmark: the same ~1 GiB evidence file uploaded to Azurite through the WORM stand-in
# (127.0.0.1:10001) by `wormvault archive` and by the official Python SDK's parallel
# `upload_blob(..., max_concurrency=N)`. Prints both times, the ratio and wormvault's peak RSS
# (target: faster than the SDK, peak RSS < 200 MB).
#
#   bash scripts/bench-azure.sh            # BENCH_MB=1024 BENCH_CONCURRENCY=4 by default
#
# wormvault's time covers the whole archive command (verify the bundle = hash 1 GiB, plan,
# preflight, staged upload with per-block CRC64 + whole-blob MD5/SHA-256, policy, read-back,
# receipts); the SDK's covers the upload call only.
#
# Client cost (issue #19 item 2): CPU seconds (user + system) per GiB of each client — wormvault's
# whole process tree from /usr/bin/time, the SDK's from getrusage around its upload call (the
# Python start-up and imports are not charged to it). Target: wormvault <= 0.5x the SDK's.
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
bin="$root/target/release/wormvault"

rm -rf "$work" && mkdir -p "$work/data"
echo "== ${mb} MiB of random evidence"
head -c "$((mb * 1024 * 1024))" /dev/urandom > "$work/data/evidence.bin"
"$bin" --quiet bundle create --unsigned --output "$work/bundle" "$work/data" >/dev/null

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

sdk_upload() {  # endpoint container -> "seconds cpu_seconds"
  "$py" - "$1" "$2" "$work/data/evidence.bin" "$conc" <<'PY'
import resource, sys, time
from azure.storage.blob import BlobServiceClient
endpoint, container, path, conc = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
svc = BlobServiceClient(endpoint, credential={"account_name": "devstoreaccount1", "account_key": key}, api_version="2026-04-06")
blob = svc.get_blob_client(container, "evidence.bin")
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
start, cpu_start = time.monotonic(), cpu()
with open(path, "rb") as f:
    blob.upload_blob(f, overwrite=False, max_concurrency=conc)
print(f"{time.monotonic() - start:.2f} {cpu() - cpu_start:.2f}")
PY
}

report() {  # label wv_seconds wv_kb sdk_seconds wv_cpu sdk_cpu
  awk -v label="$1" -v wv="$2" -v kb="$3" -v py="$4" -v wvcpu="$5" -v pycpu="$6" -v mb="$mb" 'BEGIN {
    printf "[%s]\n", label;
    printf "  wormvault archive: %.2f s (%.0f MiB/s), peak RSS %.1f MB\n", wv, mb / wv, kb / 1024;
    printf "  python SDK upload: %.2f s (%.0f MiB/s)\n", py, mb / py;
    printf "  ratio (SDK time / wormvault time): %.2fx %s; peak RSS < 200 MB: %s\n", py / wv, (wv < py ? "(wormvault faster)" : "(wormvault slower)"), (kb / 1024 < 200 ? "met" : "NOT met");
    printf "  client CPU per GiB: wormvault %.2f s (whole archive), SDK %.2f s (upload call); wormvault/SDK %.2fx (target <= 0.50x)\n", wvcpu * 1024 / mb, pycpu * 1024 / mb, wvcpu / pycpu;
  }'
  bench_line "Azure archive wall time, $mb MiB, $1" "s" "$2" "$4" "python SDK upload_blob" "$(awk -v a="$2" -v b="$4" 'BEGIN { printf "%.2f", b / a }')" "-"
  bench_line "Azure client CPU per GiB, $1" "s/GiB" "$(awk -v c="$5" -v mb="$mb" 'BEGIN { printf "%.3f", c * 1024 / mb }')" \
    "$(awk -v c="$6" -v mb="$mb" 'BEGIN { printf "%.3f", c * 1024 / mb }')" "python SDK upload_blob" "$(awk -v a="$5" -v b="$6" 'BEGIN { printf "%.2f", b / a }')" "-"
}

stamp="$(date +%s)"
# Bench containers are removed on exit directly on Azurite (the stand-in would refuse: locked).
cleanup_containers() { for c in "bench-wv-$stamp" "bench-py-$stamp" "bench-wvd-$stamp" "bench-pyd-$stamp"; do container "$c" DELETE 10000 2>/dev/null || true; done; }
trap 'cleanup_containers; cleanup' EXIT

# 1. Through the WORM stand-in (a single-process Python proxy: it bounds both clients).
container "bench-wv-$stamp" PUT 10001
container "bench-py-$stamp" PUT 10001
echo "== through the stand-in: wormvault archive (concurrency $conc per blob)"
/usr/bin/time -f "%e %M %U %S" -o "$work/wv.time" \
  "$bin" --quiet archive "$work/bundle" --allow-unsigned --to "azure+http://127.0.0.1:10001/devstoreaccount1/bench-wv-$stamp/bench" \
  --receipts-out "$work/receipts.json" >/dev/null
read -r wv_s wv_kb wv_u wv_k < "$work/wv.time"
echo "== through the stand-in: Python SDK upload_blob(max_concurrency=$conc)"
read -r py_s py_cpu < <(sdk_upload "$endpoint" "bench-py-$stamp")

# 2. Directly to Azurite (no proxy; nothing is locked, so wormvault needs the explicit flag).
container "bench-wvd-$stamp" PUT 10000
container "bench-pyd-$stamp" PUT 10000
echo "== direct to Azurite: wormvault archive --accept-unenforced-storage"
/usr/bin/time -f "%e %M %U %S" -o "$work/wvd.time" \
  "$bin" --quiet archive "$work/bundle" --allow-unsigned --accept-unenforced-storage \
  --to "azure+http://127.0.0.1:10000/devstoreaccount1/bench-wvd-$stamp/bench" --receipts-out "$work/receipts-direct.json" >/dev/null
read -r wvd_s wvd_kb wvd_u wvd_k < "$work/wvd.time"
echo "== direct to Azurite: Python SDK upload_blob(max_concurrency=$conc)"
read -r pyd_s pyd_cpu < <(sdk_upload "http://127.0.0.1:10000/devstoreaccount1" "bench-pyd-$stamp")

echo
report "through the WORM stand-in (:10001)" "$wv_s" "$wv_kb" "$py_s" "$(awk -v u="$wv_u" -v k="$wv_k" 'BEGIN{print u+k}')" "$py_cpu"
report "direct to Azurite (:10000)" "$wvd_s" "$wvd_kb" "$pyd_s" "$(awk -v u="$wvd_u" -v k="$wvd_k" 'BEGIN{print u+k}')" "$pyd_cpu"
uptime
