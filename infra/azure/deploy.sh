#!/usr/bin/env bash
# Deploy infra/azure/main.json with the Azure CLI. Without `az` (or with --dry-run) it only
# prints the commands. Never run here: there is no Azure access from the build machines.
#   infra/azure/deploy.sh <resource-group> <storage-account> <uploader-object-id> \
#       <retention-admin-group-id> <legal-hold-admin-group-id> [--container NAME] \
#       [--github-subject repo:ORG/REPO:environment:release] [--workspace LOG_ANALYTICS_ID] [--dry-run]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if (( $# < 5 )); then
  sed -n '2,7p' "$0" >&2
  exit 2
fi
rg="$1" account="$2" uploader="$3" retention="$4" holds="$5"
shift 5
container=evidence github_subject="" workspace="" dry=false
while (( $# )); do
  case "$1" in
    --container) container="${2:?--container needs a name}"; shift 2 ;;
    --github-subject) github_subject="${2:?--github-subject needs a subject}"; shift 2 ;;
    --workspace) workspace="${2:?--workspace needs a resource id}"; shift 2 ;;
    --dry-run) dry=true; shift ;;
    *) echo "deploy.sh: unknown argument $1" >&2; sed -n '2,7p' "$0" >&2; exit 2 ;;
  esac
done

params="storageAccountName=$account containerName=$container uploaderPrincipalId=$uploader retentionAdminPrincipalId=$retention legalHoldAdminPrincipalId=$holds"
[[ -n "$github_subject" ]] && params+=" githubOidcSubject=$github_subject"
[[ -n "$workspace" ]] && params+=" logAnalyticsWorkspaceId=$workspace"

cmds=(
  "az group show --name $rg --output none"
  "az deployment group what-if --resource-group $rg --template-file $here/main.json --parameters $params"
  "az deployment group create --resource-group $rg --template-file $here/main.json --parameters $params"
  # Lock the container's default policy only after checking it (a locked policy can never be shortened or removed).
  "az storage container immutability-policy show --resource-group $rg --account-name $account --container-name $container"
  "echo 'Review, then lock: az storage container immutability-policy lock --resource-group $rg --account-name $account --container-name $container --if-match <etag>'"
  "echo 'Then: wormvault target check azure://$account/$container'"
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
