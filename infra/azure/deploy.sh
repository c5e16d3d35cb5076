#!/usr/bin/env bash
# Deploy infra/azure/main.json with the Azure CLI. Without `az` (or with --dry-run) it only
# prints the commands. Never run here: there is no Azure access from the build machines.
#   infra/azure/deploy.sh <resource-group> <storage-account> <uploader-object-id> \
#       <retention-admin-group-id> <legal-hold-admin-group-id> [--dry-run]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if (( $# < 5 )); then
  sed -n '2,6p' "$0" >&2
  exit 2
fi
rg="$1" account="$2" uploader="$3" retention="$4" holds="$5"
dry=false
[[ "${6:-}" == "--dry-run" ]] && dry=true

cmds=(
  "az group show --name $rg --output none"
  "az deployment group what-if --resource-group $rg --template-file $here/main.json --parameters storageAccountName=$account uploaderPrincipalId=$uploader retentionAdminPrincipalId=$retention legalHoldAdminPrincipalId=$holds"
  "az deployment group create --resource-group $rg --template-file $here/main.json --parameters storageAccountName=$account uploaderPrincipalId=$uploader retentionAdminPrincipalId=$retention legalHoldAdminPrincipalId=$holds"
  # Lock the container's default policy only after checking it (a locked policy can never be shortened or removed).
  "az storage container immutability-policy show --resource-group $rg --account-name $account --container-name evidence"
  "echo 'Review, then lock: az storage container immutability-policy lock --resource-group $rg --account-name $account --container-name evidence --if-match <etag>'"
  "echo 'Then: wormvault target check azure://$account/evidence'"
)
for cmd in "${cmds[@]}"; do
  echo "+ $cmd"
  if ! $dry && command -v az >/dev/null; then
    eval "$cmd"
  fi
done
if ! command -v az >/dev/null; then
  echo "(az not installed: commands printed only)"
fi
