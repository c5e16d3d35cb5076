#!/usr/bin/env bash
# A records manager's legal-hold run for one case: place the hold, check it, hand counsel the
# report, and lift it when the matter closes. Every change is a signed event in the audit log
# (the case registry) and is anchored by a signed checkpoint stored locked in the target.
#
#   TARGET=s3://evidence-bucket/releases/rel-1.2.3 CASE=CASE-42 ACTOR="j.doe (records)" \
#   REASON="subpoena 7" AUDIT_LOG=holds.jsonl KEY=keys/records-ed25519-private.pem \
#   bash examples/records-manager/holds.sh set|status|report|release
#
# KEY signs the hold events and checkpoints (keep it with the records team, not the uploader).
# Executed by tests/it/examples.rs (set, status, report, release --dry-run, release) on
# LocalStack and on a local vault.
set -euo pipefail
: "${TARGET:?} ${CASE:?} ${AUDIT_LOG:?} ${KEY:?}"
registry=(--audit-log "$AUDIT_LOG" --audit-signing-key "$KEY" --checkpoint-key "$KEY")

case "${1:-}" in
  set)
    wormvault hold set "$TARGET" --case "$CASE" --actor "${ACTOR:?}" --reason "${REASON:?}" "${registry[@]}"
    ;;
  status)
    # Exit 1 when the store's flags and the registry disagree (a hold lifted behind our back).
    wormvault hold status "$TARGET" "${registry[@]}"
    ;;
  report)
    # The document for counsel: every object version the case holds, where, locked until when.
    wormvault hold report "$TARGET" --case "$CASE" --format csv --output "${REPORT:-$CASE-holds.csv}" "${registry[@]}"
    echo "report written to ${REPORT:-$CASE-holds.csv}"
    ;;
  release)
    # Show what would change first; versions another case holds stay held.
    wormvault hold release "$TARGET" --case "$CASE" --actor "${ACTOR:?}" --reason "${REASON:?}" --dry-run "${registry[@]}"
    wormvault hold release "$TARGET" --case "$CASE" --actor "$ACTOR" --reason "$REASON" --confirm-release "${registry[@]}"
    ;;
  *)
    echo "usage: holds.sh set|status|report|release (see the header for the variables)" >&2
    exit 2
    ;;
esac
