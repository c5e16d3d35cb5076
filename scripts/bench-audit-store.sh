#!/usr/bin/env bash
# Benchmark of the audit log kept in S3 (issue #17), against LocalStack:
#
#  1. Many writers: BENCH_WRITERS (8) appender processes × BENCH_APPENDS (500) records each,
#     `wormvault audit append --log s3://…` (one process per append, as CI jobs run it), all at
#     once on one log: appends/s, then a verify that the log holds exactly writers × appends
#     records, gap-free with no duplicate sequence (the verifier checks sequence = position).
#  2. Reading at scale: BENCH_RECORDS (100000) HMAC-signed records written by an independent
#     CAVRA-format writer (python3), loaded into the store and anchored with `audit anchor`
#     (which verifies them, stores the record bundles, tiles and the signed checkpoint).
#     Loading: the first BENCH_PUSHED (100) records with `wormvault audit push` itself, the rest
#     with a bench-only PARALLEL seeder (scripts/bench/seed-audit-store.py: unsigned PUTs, which
#     LocalStack accepts — checked below — with the same keys, bytes, lock mode, retain-until,
#     metadata and content type as push; the bench compares a pushed and a seeded record's
#     headers). Push itself is sequential on purpose (a parallel push could leave a gap that a
#     concurrent appender fills, forking the chain in locked storage), and far too slow for
#     100,000 records on LocalStack.
#     The floor: ListObjectVersions over every record key (one range after the other, and in
#     4/8 parallel key ranges), bundle and record GET throughput (scripts/bench/floor-audit-store.py).
#     Then
#       store:    `wormvault audit verify --log s3://… --checkpoint-key …`
#       baseline: `aws s3 cp` of the same records as one JSONL object + `wormvault audit verify`
#                 of that file
#     with wall time and client CPU (user+sys) of each and the ratio (target ≤ 1.5×). For
#     reference, the store verify reading every record object on its own (--read-every-record).
#
# Every figure is printed with /proc/loadavg: on a shared machine rerun it on a quiet one.
#   bash scripts/bench-audit-store.sh
#   BENCH_BIN=target/debug/wormvault to skip the release build (figures are then not comparable)
#   BENCH_WRITERS=0 skips part 1; BENCH_BUCKET=<bucket seeded by an earlier run> reuses its
#   big/ log (part 2's loading and anchoring skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
source scripts/bench/lib.sh
writers="${BENCH_WRITERS:-8}"
appends="${BENCH_APPENDS:-500}"
records="${BENCH_RECORDS:-100000}"
endpoint="${WORMVAULT_S3_ENDPOINT:-http://127.0.0.1:4566}"
work="$root/target/bench-audit-store"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="$endpoint" AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE
aws_() { aws --endpoint-url "$endpoint" "$@"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# LocalStack as the other S3 benches take it: reused when it is running (the test harness's),
# else installed and started here and stopped again at the end.
started=""
cleanup() { [[ -n "$started" ]] && bash "$root/localstack/stop.sh" || true; }
trap cleanup EXIT
if ! curl -fsS --max-time 2 "$endpoint/_localstack/health" 2>/dev/null | grep -Eq '"s3": *"(available|running)"'; then
  if [[ "$endpoint" != "http://127.0.0.1:4566" ]]; then
    echo "no LocalStack S3 at $endpoint (WORMVAULT_S3_ENDPOINT); start it, or unset the variable to let this script start one on 127.0.0.1:4566" >&2
    exit 2
  fi
  bash localstack/install.sh && bash localstack/start.sh && started=1
fi
if [[ -n "${BENCH_BIN:-}" ]]; then
  bin="$(cd "$(dirname "$BENCH_BIN")" && pwd)/$(basename "$BENCH_BIN")"
else
  echo "== build (release)"
  cargo build --release --quiet
  bin="$root/target/release/wormvault"
fi
rm -rf "$work" && mkdir -p "$work"
printf 'k-bench-secret\n' > "$work/hmac.key"
cp tests/fixtures/cavra/keys/evidence-ed25519-private.pem "$work/signing.pem"
chmod 600 "$work/signing.pem"
public=tests/fixtures/cavra/keys/evidence-ed25519-public.pem
keyargs=(--key-file "$work/hmac.key" --key-id kid)
bucket="${BENCH_BUCKET:-wv-bench-audit-$(date +%s)-$$}"
[[ -n "${BENCH_BUCKET:-}" ]] || aws_ s3api create-bucket --bucket "$bucket" --object-lock-enabled-for-bucket >/dev/null
echo "bucket: $bucket"

# Wall seconds, user+sys CPU seconds and max RSS (MiB) of a command: sets $wall, $cpu, $rss.
measure() {
  local out="$work/time.$$"
  /usr/bin/time -f '%e %U %S %M' -o "$out" "$@" >"$work/last.out" 2>"$work/last.err" || {
    cat "$work/last.out" "$work/last.err" >&2; return 1; }
  read -r wall user sys rss < "$out"
  cpu=$(python3 -c "print(round($user + $sys, 2))")
  rss=$((rss / 1024))
}

if (( writers > 0 )); then
echo "== 1. $writers writers x $appends appends on s3://$bucket/many   (load $(load))"
start=$(date +%s.%N)
for w in $(seq 1 "$writers"); do
  (
    for i in $(seq 1 "$appends"); do
      "$bin" --quiet audit append --log "s3://$bucket/many" --event-type bench --actor "w$w-$i" \
        --action append --target bench --decision allow "${keyargs[@]}" >/dev/null
    done
  ) &
done
wait
end=$(date +%s.%N)
total=$((writers * appends))
python3 -c "w=$end-$start; print(f'appends: {$total} in {w:.1f} s = {$total/w:.1f} appends/s   (load $(load))')"
bench_line "audit store: appends/s, $writers writer processes" "appends/s" \
  "$(python3 -c "print(round($total/($end-$start), 1))")" - "-" - -
"$bin" --json audit verify --log "s3://$bucket/many" "${keyargs[@]}" > "$work/many.json" || true
python3 - "$work/many.json" "$total" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); n = int(sys.argv[2])
ok = r["valid"] and r["record_count"] == n and r["record_objects"] == n and r["first_sequence"] == 1 and r["last_sequence"] == n
print(f"check: valid={r['valid']} records={r['record_count']} objects={r['record_objects']} expected={n} -> {'0 lost, 0 duplicated' if ok else 'FAILED'}")
sys.exit(0 if ok else 1)
PY
fi

echo "== 2. $records records: write (python3, CAVRA format), push + seed, anchor   (load $(load))"
python3 - "$records" > "$work/big.jsonl" <<'PY'
import base64, hashlib, hmac, json, sys
key = b"k-bench-secret"; prev = None
for i in range(1, int(sys.argv[1]) + 1):
    record = {"schema_version": "cavra.audit-log.event.v1", "sequence": i,
              "created_at": "2026-07-04T00:00:01+00:00", "event_type": "evidence.archived",
              "actor": "pipeline:%d" % (i % 97), "action": "archive", "target": "bundle-%d" % i,
              "decision": "allow", "tenant_id": "tenant-a", "workspace_id": None,
              "evidence_refs": ["sha256:%064x" % i], "metadata": {"run": i}, "previous_hash": prev}
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    record["record_hash"] = hashlib.sha256(canonical).hexdigest()
    payload = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    record["signature"] = {"algorithm": "HS256", "key_id": "kid",
                           "value": base64.b64encode(hmac.new(key, payload, hashlib.sha256).digest()).decode()}
    prev = record["record_hash"]
    print(json.dumps(record, sort_keys=True))
PY
if [[ -z "${BENCH_BUCKET:-}" ]]; then
pushed="${BENCH_PUSHED:-100}"
head -n "$pushed" "$work/big.jsonl" > "$work/pushed.jsonl"
measure "$bin" --quiet audit push --log "$work/pushed.jsonl" --to "s3://$bucket/big" "${keyargs[@]}"
echo "push of records 1..$pushed (wormvault, sequential): $wall s wall, $cpu s CPU   (load $(load))"
# The seeder's requests are unsigned: make sure LocalStack really does not check SigV4.
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary x \
  -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00' \
  "$endpoint/$bucket/sigv4-probe")
[[ "$code" == 200 ]] || { echo "LocalStack checks SigV4 (HTTP $code): the unsigned seeder cannot be used" >&2; exit 2; }
echo "LocalStack accepted a PUT with a wrong SigV4 signature (HTTP $code): seeding unsigned"
measure python3 scripts/bench/seed-audit-store.py "$endpoint" "$bucket" big "$work/big.jsonl" $((pushed + 1)) 16
echo "seed of records $((pushed + 1))..$records (parallel, bench only): $wall s wall   (load $(load))"
# A pushed and a seeded record must look the same to a reader: lock, metadata, type, size.
python3 - "$bucket" "$pushed" <<'PY'
import json, subprocess, sys
bucket, pushed = sys.argv[1], int(sys.argv[2])
def head(n):
    out = subprocess.check_output(["aws", "s3api", "head-object", "--bucket", bucket, "--key", f"big/records/{n:020d}.json"])
    return json.loads(out)
a, b = head(pushed), head(pushed + 1)
same = lambda h: (h["ObjectLockMode"], sorted(h["Metadata"]), h["ContentType"], h["ObjectLockRetainUntilDate"][:13])
print(f"pushed record {pushed}: {same(a)}\nseeded record {pushed + 1}: {same(b)}")
sys.exit(0 if same(a) == same(b) else "a seeded record differs from a pushed one")
PY
measure "$bin" --quiet audit anchor --log "s3://$bucket/big" --origin example.com/bench \
  --signing-key "$work/signing.pem" "${keyargs[@]}"
echo "anchor (verify + bundles + checkpoint): $wall s wall, $cpu s CPU   (load $(load))"
aws_ s3 cp --quiet "$work/big.jsonl" "s3://$bucket/baseline/big.jsonl"
fi

echo "== floor: what LocalStack costs for the listing and the GETs   (load $(load))"
python3 scripts/bench/floor-audit-store.py "$endpoint" "$bucket" big "$records" | while read -r line; do
  echo "$line   (load $(load))"
done

echo "== 3. verify $records stored records vs aws s3 cp + local verify"
rm -f "$work/download.jsonl"
measure bash -c "aws --endpoint-url '$endpoint' s3 cp --quiet 's3://$bucket/baseline/big.jsonl' '$work/download.jsonl' && '$bin' --quiet audit verify --log '$work/download.jsonl' --key-file '$work/hmac.key' --key-id kid"
base_wall=$wall base_cpu=$cpu
echo "baseline (aws s3 cp + verify file): $base_wall s wall, $base_cpu s CPU, max RSS $rss MiB   (load $(load))"
measure "$bin" --json audit verify --log "s3://$bucket/big" --checkpoint-key "$public" "${keyargs[@]}"
store_wall=$wall store_cpu=$cpu
python3 -c "import json; r=json.load(open('$work/last.out')); print(f\"store verify: valid={r['valid']} records={r['record_count']} from bundles={r['records_from_bundles']}\")"
echo "store verify (bundles): $store_wall s wall, $store_cpu s CPU, max RSS $rss MiB   (load $(load))"
every_wall=
if [[ "${BENCH_EVERY:-1}" == 1 ]]; then
  # Reference only (100,000 GETs): not fatal, LocalStack under load has dropped a GET body here.
  if measure "$bin" --quiet audit verify --log "s3://$bucket/big" --checkpoint-key "$public" --read-every-record "${keyargs[@]}"; then
    echo "store verify (--read-every-record): $wall s wall, $cpu s CPU, max RSS $rss MiB   (load $(load))"
    every_wall=$wall
  else
    echo "store verify (--read-every-record): FAILED (above)   (load $(load))"
  fi
fi
# The floor a store verify cannot go below while it lists every record key's versions (which is
# how it sees a record rewritten or deleted behind the log's back): the listing alone.
measure aws --endpoint-url "$endpoint" s3api list-object-versions --bucket "$bucket" --prefix big/records/ --query 'length(Versions)'
floor_wall=$wall
echo "listing floor (aws s3api list-object-versions of the record keys): $floor_wall s wall   (load $(load))"
python3 -c "print(f'ratio store/baseline: {$store_wall/$base_wall:.2f}x wall (target <= 1.5x), {$store_cpu/max($base_cpu,0.01):.2f}x client CPU; listing floor alone: {$floor_wall/$base_wall:.2f}x the baseline')"
[[ -z "$every_wall" ]] || python3 -c "print(f'every record: {$every_wall/$base_wall:.2f}x wall')"
# ratio > 1 means wormvault is faster (bench.sh's convention): baseline time / store time.
bench_line "audit store: verify $records stored records" "s" "$store_wall" "$base_wall" \
  "aws s3 cp + local verify" "$(python3 -c "print(round($base_wall/$store_wall, 2))")" -
