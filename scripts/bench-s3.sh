#!/usr/bin/env bash
# Benchmark: the same ~1 GiB of evidence (one large file + many small ones) uploaded to
# LocalStack S3 by `wormvault archive` and by `aws s3 cp --recursive`. Prints both times, the
# ratio and wormvault's peak RSS (target: faster than the AWS CLI, peak RSS < 200 MB).
#
#   bash scripts/bench-s3.sh
#   BENCH_LARGE_MB=768 BENCH_SMALL_COUNT=256 BENCH_SMALL_KB=1024 (defaults); BENCH_CONCURRENCY=N
#   overrides wormvault's --concurrency (default: the tool's own); BENCH_REPEAT=N (default 3)
#   runs of `aws s3 cp` and of `wormvault archive`, interleaved; the medians are reported
#
# Both upload into an Object Lock bucket (default COMPLIANCE retention 1 day, so nothing large
# stays locked for long in the emulator). wormvault's bucket also gets SSE-KMS, public access
# block and the TLS-only policy its preflight requires. wormvault's time covers the whole archive
# command (verify the bundle = hash every file, plan, preflight, create-only locked uploads with
# SHA-256 checksums, per-object read-back, receipts); the AWS CLI's covers the copy only.
#
# Two more figures say where the time goes. LocalStack's CPU seconds during each run (when this
# script can see its process): LocalStack is one Python process, and when its CPU time is about
# the wall time, the emulator, not the client, sets the pace. And a floor: curl (a C client)
# PUTting the same files 16 at a time with nothing else — no checksum for S3 to verify, no
# multipart, no lock headers, no read-back — the least work any client can make this emulator do
# for these bytes.
#
# Client cost (issue #19 item 2): each client's CPU seconds (user + system of its process tree,
# from /usr/bin/time) per GiB uploaded (target: wormvault <= 0.4x the AWS CLI's), and HTTP
# requests per small object, counted by a loopback proxy (scripts/bench/count_proxy.py) in a
# separate run of BENCH_REQ_SMALL and BENCH_REQ_LARGE tiny files (default 8 and 40): the slope
# between the two runs is what one more object costs, fixed costs (preflight, manifest, bucket
# checks) cancel out (target: <= 2 on S3, the PUT and one read-back HEAD). Prints `BENCH` lines.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench/lib.sh
root="$(pwd)"
large_mb="${BENCH_LARGE_MB:-768}"
small_count="${BENCH_SMALL_COUNT:-256}"
small_kb="${BENCH_SMALL_KB:-1024}"
conc="${BENCH_CONCURRENCY:-}"
endpoint="${WORMVAULT_S3_ENDPOINT:-http://127.0.0.1:4566}"
work="$root/target/bench-s3"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE

started=""
cleanup() { [[ -n "$started" ]] && bash "$root/localstack/stop.sh" || true; }
trap cleanup EXIT
if ! curl -fsS --max-time 2 "$endpoint/_localstack/health" 2>/dev/null | grep -Eq '"s3": *"(available|running)"'; then
  bash localstack/install.sh && bash localstack/start.sh && started=1
fi
aws_() { aws --endpoint-url "$endpoint" "$@"; }

echo "== build (release)"
[[ -n "${BENCH_SKIP_BUILD:-}" ]] || cargo build --release --quiet
bin="${BENCH_BIN:-$root/target/release/wormvault}"

rm -rf "$work" && mkdir -p "$work/data"
total_mb=$(( large_mb + small_count * small_kb / 1024 ))
echo "== data: 1 x ${large_mb} MiB + ${small_count} x ${small_kb} KiB (~${total_mb} MiB), random"
head -c "$((large_mb * 1024 * 1024))" /dev/urandom > "$work/data/large.bin"
for i in $(seq -w 1 "$small_count"); do
  head -c "$((small_kb * 1024))" /dev/urandom > "$work/data/small-$i.bin"
done
"$bin" --quiet bundle create --unsigned --output "$work/bundle" "$work/data" >/dev/null

lock_bucket() {  # Object Lock bucket with 1-day COMPLIANCE default retention
  aws_ s3api create-bucket --bucket "$1" --object-lock-enabled-for-bucket >/dev/null
  aws_ s3api put-object-lock-configuration --bucket "$1" --object-lock-configuration \
    '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Days":1}}}'
}
worm_bucket() {  # plus what wormvault's preflight requires: SSE-KMS, public access block, TLS-only policy
  lock_bucket "$1"
  aws_ s3api put-bucket-encryption --bucket "$1" --server-side-encryption-configuration \
    '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms","KMSMasterKeyID":"arn:aws:kms:us-east-1:000000000000:key/bench"},"BucketKeyEnabled":true}]}'
  aws_ s3api put-public-access-block --bucket "$1" --public-access-block-configuration \
    'BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true'
  aws_ s3api put-bucket-policy --bucket "$1" --policy "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"DenyInsecureTransport\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"s3:*\",\"Resource\":[\"arn:aws:s3:::$1\",\"arn:aws:s3:::$1/*\"],\"Condition\":{\"Bool\":{\"aws:SecureTransport\":\"false\"}}}]}"
}
# LocalStack keeps every object in its process and slows down as it fills, so when this script
# started LocalStack it restarts it before each timed run (every tool meets the same empty
# emulator). When LocalStack was already running (the test harness's), runs share it and the
# AWS CLI goes first, so any slowdown from stored data falls on wormvault.
# Each run also starts with dirty pages written back (`sync`): the 1 GiB of fresh test data, and
# what LocalStack spilled to disk in the run before, would otherwise be flushed during — and
# charged to — whichever tool runs next.
fresh() {
  if [[ -n "$started" ]]; then
    bash localstack/stop.sh >/dev/null && bash localstack/start.sh >/dev/null
  fi
  sync
}
stamp="$(date +%s)"
# CPU seconds (user + system) of LocalStack's processes so far; empty when none is visible.
ls_cpu() {
  local pids; pids="$(pgrep -f 'localstack.runtime.main' || true)"
  [[ -n "$pids" ]] || return 0
  for p in $pids; do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done \
    | awk -v hz="$(getconf CLK_TCK)" '{s += $1} END {printf "%.2f", s / hz}'
}
# timed NAME COMMAND...: wall seconds and peak RSS to $work/NAME.time, LocalStack CPU to $work/NAME.ls
timed() {
  local name="$1"; shift
  local before after; before="$(ls_cpu)"
  /usr/bin/time -f "%e %M %U %S" -o "$work/$name.time" "$@"
  after="$(ls_cpu)"
  if [[ -n "$before" && -n "$after" ]]; then awk -v a="$after" -v b="$before" 'BEGIN {printf "%.2f\n", a - b}' > "$work/$name.ls"; else echo "?" > "$work/$name.ls"; fi
}

echo "== aws s3 cp --recursive --checksum-algorithm SHA256 (the integrity check wormvault makes S3 do)"
fresh
cli256_bucket="bench-cli256-$stamp"
lock_bucket "$cli256_bucket"
timed cli256 \
  aws --endpoint-url "$endpoint" s3 cp --recursive --only-show-errors --checksum-algorithm SHA256 "$work/data" "s3://$cli256_bucket/bench"
read -r cli256_s _ cli256_u cli256_k < "$work/cli256.time"

echo "== floor: curl PUTs the same files, 16 at a time, nothing else"
fresh
floor_bucket="bench-floor-$stamp"
aws_ s3api create-bucket --bucket "$floor_bucket" >/dev/null
floor_s="?"
if curl --help all 2>/dev/null | grep -q -- '--aws-sigv4'; then
  cfg="$work/curl.cfg"; : > "$cfg"
  for f in "$work"/data/*; do
    printf 'upload-file = "%s"\nurl = "%s/%s/bench/%s"\noutput = /dev/null\n' "$f" "$endpoint" "$floor_bucket" "$(basename "$f")" >> "$cfg"
  done
  timed floor curl -sS --fail --parallel --parallel-max 16 --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -K "$cfg"
  read -r floor_s _ < "$work/floor.time"
else
  echo "(this curl has no --aws-sigv4; floor skipped)"
fi

# median_run NAME RUNS...: $work/NAME.time ("%e %M %U %S") and $work/NAME.ls from the runs
# NAME-1 … NAME-N: the median wall time, the largest peak RSS, the median CPU (as user; system 0)
# and the median LocalStack CPU; each run's figures printed.
median_run() {
  local name=$1 n=$2 i walls=() cpus=() lss=() rss=0 s kb u k
  for i in $(seq 1 "$n"); do
    read -r s kb u k < "$work/$name-$i.time"
    walls+=("$s"); cpus+=("$(awk -v u="$u" -v k="$k" 'BEGIN { print u + k }')"); lss+=("$(cat "$work/$name-$i.ls")")
    (( kb > rss )) && rss=$kb
  done
  echo "  $name runs: ${walls[*]} s, client CPU ${cpus[*]} s, LocalStack CPU ${lss[*]} s"
  echo "$(median "${walls[@]}") $rss $(median "${cpus[@]}") 0" > "$work/$name.time"
  if [[ " ${lss[*]} " == *" ? "* ]]; then echo "?" > "$work/$name.ls"; else median "${lss[@]}" > "$work/$name.ls"; fi
}
reps=$(bench_repeat)
echo "== aws s3 cp --recursive and wormvault archive (${conc:-default} objects at once), $reps runs each, interleaved"
for r in $(seq 1 "$reps"); do
  fresh
  cli_bucket="bench-cli-$stamp-$r"
  lock_bucket "$cli_bucket"
  timed "cli-$r" \
    aws --endpoint-url "$endpoint" s3 cp --recursive --only-show-errors "$work/data" "s3://$cli_bucket/bench"
  fresh
  wv_bucket="bench-wv-$stamp-$r"
  worm_bucket "$wv_bucket"
  AWS_ENDPOINT_URL="$endpoint" timed "wv-$r" \
    "$bin" --quiet archive "$work/bundle" --allow-unsigned --to "s3://$wv_bucket/bench" \
    ${conc:+--concurrency "$conc"} --receipts-out "$work/receipts-$r.json" >/dev/null
done
median_run cli "$reps"; median_run wv "$reps"
read -r cli_s cli_kb cli_u cli_k < "$work/cli.time"
read -r wv_s wv_kb wv_u wv_k < "$work/wv.time"
objects=$(aws_ s3api list-object-versions --bucket "$wv_bucket" --query 'length(Versions)' --output text)

# A resumed archive of the same bundle finds every object stored. Each must be proven before it
# is accepted: single-PUT objects by S3's full-object checksum (no read), the multipart one by
# the part checksums S3 reports matched against the local file (src/store/s3/proof.rs: one local
# read, no download). Baseline: proving them by download, as `check-remote --rehash` does.
echo "== wormvault archive again (resume: everything already stored) vs check-remote --rehash"
AWS_ENDPOINT_URL="$endpoint" timed resume \
  "$bin" --quiet archive "$work/bundle" --allow-unsigned --to "s3://$wv_bucket/bench" \
  --receipts-out "$work/receipts-resume.json" >/dev/null
AWS_ENDPOINT_URL="$endpoint" timed rehash \
  "$bin" --quiet check-remote "s3://$wv_bucket/bench" --receipts "$work/receipts-$reps.json" --rehash >/dev/null
read -r re_s _ re_u re_k < "$work/resume.time"
read -r rh_s _ rh_u rh_k < "$work/rehash.time"
awk -v a="$re_s" -v b="$rh_s" -v ac="$(awk -v u="$re_u" -v k="$re_k" 'BEGIN{print u+k}')" \
    -v bc="$(awk -v u="$rh_u" -v k="$rh_k" 'BEGIN{print u+k}')" -v lsa="$(cat "$work/resume.ls")" -v lsb="$(cat "$work/rehash.ls")" 'BEGIN {
  printf "resumed archive (all present): %.2f s, client CPU %.2f s, LocalStack CPU %s s\n", a, ac, lsa;
  printf "check-remote --rehash:         %.2f s, client CPU %.2f s, LocalStack CPU %s s\n", b, bc, lsb;
}'
bench_line "S3 resumed archive, all ${total_mb} MiB present" "s" "$re_s" "$rh_s" "check-remote --rehash" "$(awk -v a="$re_s" -v b="$rh_s" 'BEGIN { printf "%.2f", b / a }')" "-"

awk -v wv="$wv_s" -v cli="$cli_s" -v cli256="$cli256_s" -v floor="$floor_s" -v kb="$wv_kb" -v clikb="$cli_kb" -v mb="$total_mb" -v n="$objects" \
    -v wvcpu="$(awk -v u="$wv_u" -v k="$wv_k" 'BEGIN{print u+k}')" -v clicpu="$(awk -v u="$cli_u" -v k="$cli_k" 'BEGIN{print u+k}')" -v cli256cpu="$(awk -v u="$cli256_u" -v k="$cli256_k" 'BEGIN{print u+k}')" \
    -v lswv="$(cat "$work/wv.ls")" -v lscli="$(cat "$work/cli.ls")" -v lscli256="$(cat "$work/cli256.ls")" -v lsfloor="$(cat "$work/floor.ls" 2>/dev/null || echo "?")" 'BEGIN {
  printf "wormvault archive:           %.2f s (%.0f MiB/s, %d objects incl. manifest), peak RSS %.1f MB; LocalStack CPU %s s\n", wv, mb / wv, n, kb / 1024, lswv;
  printf "aws s3 cp:                   %.2f s (%.0f MiB/s), peak RSS %.1f MB; LocalStack CPU %s s\n", cli, mb / cli, clikb / 1024, lscli;
  printf "aws s3 cp (SHA-256 checked): %.2f s (%.0f MiB/s); LocalStack CPU %s s\n", cli256, mb / cli256, lscli256;
  if (floor != "?") printf "floor (curl, plain PUTs):    %.2f s (%.0f MiB/s); LocalStack CPU %s s\n", floor, mb / floor, lsfloor;
  printf "ratio (AWS CLI time / wormvault time): %.2fx %s\n", cli / wv, (wv < cli ? "(wormvault faster)" : "(wormvault slower)");
  printf "ratio against the SHA-256 CLI run:     %.2fx\n", cli256 / wv;
  printf "peak RSS target < 200 MB: %s\n", (kb / 1024 < 200 ? "met" : "NOT met");
  gib = mb / 1024;
  printf "client CPU (user+sys) per GiB: wormvault %.2f s, aws s3 cp %.2f s, aws s3 cp SHA256 %.2f s; wormvault/CLI %.2fx (target <= 0.40x)\n", wvcpu / gib, clicpu / gib, cli256cpu / gib, wvcpu / clicpu;
}'

# Machine-readable lines for scripts/bench.sh.
wv_cpu_gib=$(awk -v u="$wv_u" -v k="$wv_k" -v mb="$total_mb" 'BEGIN { printf "%.3f", (u + k) * 1024 / mb }')
cli_cpu_gib=$(awk -v u="$cli_u" -v k="$cli_k" -v mb="$total_mb" 'BEGIN { printf "%.3f", (u + k) * 1024 / mb }')
bench_line "S3 archive wall time, ${total_mb} MiB" "s" "$wv_s" "$cli_s" "aws s3 cp" "$(awk -v a="$wv_s" -v b="$cli_s" 'BEGIN { printf "%.2f", b / a }')" "${floor_s/\?/-}"
bench_line "S3 client CPU per GiB" "s/GiB" "$wv_cpu_gib" "$cli_cpu_gib" "aws s3 cp" "$(awk -v a="$wv_cpu_gib" -v b="$cli_cpu_gib" 'BEGIN { printf "%.2f", b / a }')" "-"

# Requests per small object, through the counting proxy (a run of its own: the proxy's Python
# would otherwise slow the timed runs).
req_small="${BENCH_REQ_SMALL:-8}"
req_large="${BENCH_REQ_LARGE:-40}"
proxy_port="${BENCH_PROXY_PORT:-4597}"
proxy_pid=""
stop_proxy() { [[ -n "$proxy_pid" ]] && kill "$proxy_pid" 2>/dev/null; proxy_pid=""; }
trap 'stop_proxy; cleanup' EXIT
count_requests() { # client n -> total requests
  local client=$1 n=$2 dir="$work/req-$1-$2" count="$work/req-$1-$2.count"
  rm -rf "$dir" && mkdir -p "$dir/data"
  for i in $(seq -w 1 "$n"); do head -c 4096 /dev/urandom > "$dir/data/f-$i.bin"; done
  python3 scripts/bench/count_proxy.py "$proxy_port" "${endpoint##*:}" "$count" & proxy_pid=$!
  # Wait for the port with a bare connect (no request, so nothing is counted).
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$proxy_port") 2>/dev/null && break; sleep 0.1; done
  local bucket="bench-req-$client-$n-$stamp"
  if [[ "$client" == wv ]]; then
    worm_bucket "$bucket"
    "$bin" --quiet bundle create --unsigned --output "$dir/bundle" "$dir/data" >/dev/null
    AWS_ENDPOINT_URL="http://127.0.0.1:$proxy_port" "$bin" --quiet archive "$dir/bundle" --allow-unsigned \
      --to "s3://$bucket/bench" --receipts-out "$dir/receipts.json" >/dev/null
  else
    lock_bucket "$bucket"
    aws --endpoint-url "http://127.0.0.1:$proxy_port" s3 cp --recursive --only-show-errors "$dir/data" "s3://$bucket/bench"
  fi
  stop_proxy
  cp "$count" "$work/req-$client-$n.detail"
  awk '$2 == "total" { print $1 }' "$count"
}
echo "== requests per small object (counting proxy on 127.0.0.1:$proxy_port; $req_small and $req_large files of 4 KiB)"
wv_r1=$(count_requests wv "$req_small"); wv_r2=$(count_requests wv "$req_large")
cli_r1=$(count_requests cli "$req_small"); cli_r2=$(count_requests cli "$req_large")
wv_per=$(awk -v a="$wv_r1" -v b="$wv_r2" -v n="$req_small" -v m="$req_large" 'BEGIN { printf "%.2f", (b - a) / (m - n) }')
cli_per=$(awk -v a="$cli_r1" -v b="$cli_r2" -v n="$req_small" -v m="$req_large" 'BEGIN { printf "%.2f", (b - a) / (m - n) }')
echo "wormvault archive: $wv_r1 requests for $req_small files, $wv_r2 for $req_large: $wv_per per object (target <= 2)"
echo "  by operation ($req_large files):"; sed 's/^/    /' "$work/req-wv-$req_large.detail"
echo "aws s3 cp:         $cli_r1 requests for $req_small files, $cli_r2 for $req_large: $cli_per per object"
bench_line "S3 requests per small object" "requests" "$wv_per" "$cli_per" "aws s3 cp" "$(awk -v a="$wv_per" -v b="$cli_per" 'BEGIN { printf "%.2f", b / a }')" "2"
uptime
