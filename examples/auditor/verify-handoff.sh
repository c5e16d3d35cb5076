#!/usr/bin/env bash
# An auditor's check of a handoff package, offline and then against the store:
#
#   bash examples/auditor/verify-handoff.sh handoff.tar.gz my-trust-roots.json [s3://bucket/prefix]
#
# The trust roots are the auditor's own copy, obtained out of band from the key owners — never
# the copy inside the package. Without a pin wormvault prints UNPINNED and exits 1. With a third
# argument, the store the auditor names (not the one the package names) is read and compared
# with the receipts; credentials come from the auditor's own environment (AWS_*, AZURE_*).
# Exit 0 only when the verdict is VERIFIED. Executed by tests/it/examples.rs.
set -euo pipefail
package="${1:?usage: verify-handoff.sh PACKAGE TRUST_ROOTS [TARGET]}"
roots="${2:?usage: verify-handoff.sh PACKAGE TRUST_ROOTS [TARGET]}"
# wormvault never overwrites a report: each run writes its own.
report="${REPORT:-${package%.tar.gz}-report-$(date -u +%Y%m%dT%H%M%S%NZ).html}"

wormvault handoff verify "$package" --trust-root "$roots" --html "$report"
echo "offline: VERIFIED; report $report"

if [[ -n "${3:-}" ]]; then
  wormvault handoff verify "$package" --trust-root "$roots" --online "$3"
  echo "online: the store at $3 holds what the receipts say"
fi
