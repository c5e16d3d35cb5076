#!/usr/bin/env bash
# Benchmark: legal holds on 10,000 objects in LocalStack S3 — `wormvault hold set` on the whole
# prefix versus a plain loop of `aws s3api put-object-legal-hold`, one call per object version.
# Prints objects/s for both, the ratio, and `uptime` (the machine's load colours every figure).
#
#   bash scripts/bench-hold.sh
#   BENCH_OBJECTS=10000 (objects under each prefix), BENCH_AWS_SAMPLE=300 (object versions the
#   AWS CLI loop holds; each call starts a Python process, so the full 10,000 takes hours — set
#   BENCH_AWS_SAMPLE=$BENCH_OBJECTS for the whole loop), BENCH_CONCURRENCY (wormvault's
#   --concurrency, default the tool's), BENCH_PROFILE=release|debug (default release),
#   BENCH_SKIP_BUILD=1 (use the binary already built)
#
# wormvault's time covers the whole command: verify the (new) audit log, list every version under
# the prefix with its current lock and hold, log the case decision, set every hold with bounded
# concurrency, read each back, log the outcome, sign a checkpoint and store it locked. The loop's
# covers the PutObjectLegalHold calls only (its version listing is done before the clock starts),
# and reads nothing back.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench/lib.sh
root="$(pwd)"
objects="${BENCH_OBJECTS:-10000}"
sample="${BENCH_AWS_SAMPLE:-300}"
profile="${BENCH_PROFILE:-release}"
conc="${BENCH_CONCURRENCY:-}"
endpoint="${WORMVAULT_S3_ENDPOINT:-http://127.0.0.1:4566}"
work="$root/target/bench-hold"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE

# The AWS CLI: on PATH, else the LocalStack venv's (localstack/install.sh installs it there).
aws_bin="$(command -v aws || true)"
for candidate in "$root/localstack/.venv/bin/aws" /work/main/localstack/.venv/bin/aws; do
  [[ -z "$aws_bin" && -x "$candidate" ]] && aws_bin="$candidate"
done
[[ -n "$aws_bin" ]] || { echo "no aws CLI: run bash localstack/install.sh" >&2; exit 2; }
aws_() { "$aws_bin" --endpoint-url "$endpoint" "$@"; }

started=""
cleanup() { [[ -n "$started" ]] && bash "$root/localstack/stop.sh" || true; }
trap cleanup EXIT
if ! curl -fsS --max-time 2 "$endpoint/_localstack/health" 2>/dev/null | grep -Eq '"s3": *"(available|running)"'; then
  bash localstack/install.sh && bash localstack/start.sh && started=1
fi

echo "== build ($profile)"
if [[ -n "${BENCH_SKIP_BUILD:-}" ]]; then
  echo "   (BENCH_SKIP_BUILD: using the existing target/$profile/wormvault)"
elif [[ "$profile" == release ]]; then
  cargo build --release --quiet
else
  cargo build --quiet
fi
bin="$root/target/$profile/wormvault"

rm -rf "$work" && mkdir -p "$work/data"
for i in $(seq -w 1 "$objects"); do printf '%s\n' "$i" > "$work/data/obj-$i.txt"; done
bucket="wv-bench-hold-$(date +%s)"
aws_ s3api create-bucket --bucket "$bucket" --object-lock-enabled-for-bucket >/dev/null
echo "== seeding $objects objects under tool/ and under cli/ in $bucket"
aws_ s3 cp --recursive --quiet "$work/data" "s3://$bucket/tool/"
aws_ s3 cp --recursive --quiet "$work/data" "s3://$bucket/cli/"

(cd "$work" && "$bin" -q keys generate --output-dir keys >/dev/null)
echo "== wormvault hold set on $objects objects"
extra=()
[[ -n "$conc" ]] && extra=(--concurrency "$conc")
t0=$(date +%s.%N)
(cd "$work" && AWS_ENDPOINT_URL="$endpoint" "$bin" --quiet --json hold set "s3://$bucket/tool" \
  --case BENCH-1 --reason benchmark --actor bench "${extra[@]}" \
  --audit-log holds.jsonl --audit-signing-key keys/evidence-ed25519-private.pem \
  --checkpoint-key keys/evidence-ed25519-private.pem > set.json)
t1=$(date +%s.%N)
held=$(python3 -c "import json,sys; r=json.load(open('$work/set.json')); print(sum(1 for o in r['objects'] if o['legal_hold'] is True))")
[[ "$held" == "$objects" ]] || { echo "wormvault held $held of $objects" >&2; exit 1; }

echo "== aws s3api put-object-legal-hold loop on $sample object versions"
aws_ s3api list-object-versions --bucket "$bucket" --prefix cli/ --max-items "$sample" \
  --query 'Versions[].[Key,VersionId]' --output text | grep '^cli/' | head -n "$sample" > "$work/versions.txt"
count=$(wc -l < "$work/versions.txt")
t2=$(date +%s.%N)
while read -r key version; do
  aws_ s3api put-object-legal-hold --bucket "$bucket" --key "$key" --version-id "$version" \
    --legal-hold Status=ON < /dev/null
done < "$work/versions.txt"
t3=$(date +%s.%N)

python3 - "$t0" "$t1" "$t2" "$t3" "$objects" "$count" > "$work/result.txt" <<'EOF'
import sys
t0, t1, t2, t3 = map(float, sys.argv[1:5])
objects, count = int(sys.argv[5]), int(sys.argv[6])
tool = objects / (t1 - t0)
cli = count / (t3 - t2)
print(f"wormvault hold set : {objects} objects in {t1 - t0:.1f} s = {tool:.1f} objects/s")
print(f"aws CLI loop       : {count} objects in {t3 - t2:.1f} s = {cli:.1f} objects/s")
print(f"ratio              : {tool / cli:.1f}x (wormvault / aws CLI loop)")
print(f"{tool:.1f} {cli:.1f} {tool / cli:.1f}")
EOF
head -n 3 "$work/result.txt"
read -r hold_tool hold_cli hold_ratio < <(tail -n 1 "$work/result.txt")
bench_line "legal hold set, $objects objects" "objects/s" "$hold_tool" "$hold_cli" "aws s3api put-object-legal-hold loop" "$hold_ratio" "-"
uptime
