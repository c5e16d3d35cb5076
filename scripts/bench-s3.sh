#!/usr/bin/env bash
# Benchmark: the same ~1 GiB of evidence (one large file + many small ones) uploaded to
# LocalStack S3 by `wormvault archive` and by `aws s3 cp --recursive`. Prints both times, the
# ratio and wormvault's peak RSS (target: faster than the AWS CLI, peak RSS < 200 MB).
#
#   bash scripts/bench-s3.sh
#   BENCH_LARGE_MB=768 BENCH_SMALL_COUNT=256 BENCH_SMALL_KB=1024 BENCH_CONCURRENCY=4 (defaults)
#
# Both upload into an Object Lock bucket (default COMPLIANCE retention 1 day, so nothing large
# stays locked for long in the emulator). wormvault's bucket also gets SSE-KMS, public access
# block and the TLS-only policy its preflight requires. wormvault's time covers the whole archive
# command (verify the bundle = hash every file, plan, preflight, create-only locked uploads with
# SHA-256 checksums, per-object read-back, receipts); the AWS CLI's covers the copy only.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
large_mb="${BENCH_LARGE_MB:-768}"
small_count="${BENCH_SMALL_COUNT:-256}"
small_kb="${BENCH_SMALL_KB:-1024}"
conc="${BENCH_CONCURRENCY:-4}"
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
cargo build --release --quiet
bin="$root/target/release/wormvault"

rm -rf "$work" && mkdir -p "$work/data"
total_mb=$(( large_mb + small_count * small_kb / 1024 ))
echo "== data: 1 x ${large_mb} MiB + ${small_count} x ${small_kb} KiB (~${total_mb} MiB), random"
head -c "$((large_mb * 1024 * 1024))" /dev/urandom > "$work/data/large.bin"
for i in $(seq -w 1 "$small_count"); do
  head -c "$((small_kb * 1024))" /dev/urandom > "$work/data/small-$i.bin"
done
"$bin" --quiet bundle create --unsigned --output "$work/bundle" "$work/data" >/dev/null

stamp="$(date +%s)"
lock_bucket() {  # Object Lock bucket with 1-day COMPLIANCE default retention
  aws_ s3api create-bucket --bucket "$1" --object-lock-enabled-for-bucket >/dev/null
  aws_ s3api put-object-lock-configuration --bucket "$1" --object-lock-configuration \
    '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Days":1}}}'
}
wv_bucket="bench-wv-$stamp"
cli_bucket="bench-cli-$stamp"
lock_bucket "$wv_bucket"
lock_bucket "$cli_bucket"
aws_ s3api put-bucket-encryption --bucket "$wv_bucket" --server-side-encryption-configuration \
  '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms","KMSMasterKeyID":"arn:aws:kms:us-east-1:000000000000:key/bench"},"BucketKeyEnabled":true}]}'
aws_ s3api put-public-access-block --bucket "$wv_bucket" --public-access-block-configuration \
  'BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true'
aws_ s3api put-bucket-policy --bucket "$wv_bucket" --policy "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"DenyInsecureTransport\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"s3:*\",\"Resource\":[\"arn:aws:s3:::$wv_bucket\",\"arn:aws:s3:::$wv_bucket/*\"],\"Condition\":{\"Bool\":{\"aws:SecureTransport\":\"false\"}}}]}"

echo "== wormvault archive (concurrency $conc objects)"
AWS_ENDPOINT_URL="$endpoint" /usr/bin/time -f "%e %M" -o "$work/wv.time" \
  "$bin" --quiet archive "$work/bundle" --allow-unsigned --to "s3://$wv_bucket/bench" \
  --concurrency "$conc" --receipts-out "$work/receipts.json" >/dev/null
read -r wv_s wv_kb < "$work/wv.time"
objects=$(aws_ s3api list-object-versions --bucket "$wv_bucket" --query 'length(Versions)' --output text)

echo "== aws s3 cp --recursive"
/usr/bin/time -f "%e %M" -o "$work/cli.time" \
  aws --endpoint-url "$endpoint" s3 cp --recursive --only-show-errors "$work/data" "s3://$cli_bucket/bench"
read -r cli_s cli_kb < "$work/cli.time"

awk -v wv="$wv_s" -v cli="$cli_s" -v kb="$wv_kb" -v clikb="$cli_kb" -v mb="$total_mb" -v n="$objects" 'BEGIN {
  printf "wormvault archive: %.2f s (%.0f MiB/s, %d objects incl. manifest), peak RSS %.1f MB\n", wv, mb / wv, n, kb / 1024;
  printf "aws s3 cp:         %.2f s (%.0f MiB/s), peak RSS %.1f MB\n", cli, mb / cli, clikb / 1024;
  printf "ratio (AWS CLI time / wormvault time): %.2fx %s\n", cli / wv, (wv < cli ? "(wormvault faster)" : "(wormvault slower)");
  printf "peak RSS target < 200 MB: %s\n", (kb / 1024 < 200 ? "met" : "NOT met");
}'
