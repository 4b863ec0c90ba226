#!/usr/bin/env bash
# Deploy the LiteLLM gateway's config push into a resource group: the Azure resources
# (infra/main.bicep), the publisher Function's code, and the Event Grid subscription that
# feeds it. Then print the gateway environment and how to upload a config.
#
#   infra/deploy.sh -g <resource-group> [-l <location>] [options]
#
# Steps (infra/README.md "Deploy" walks through the same ones):
#   1. resource group       create it with -l (skipped by --what-if)
#   2. infrastructure       az deployment group create (Event Grid subscription only if the
#                           function is already published)
#   3. package              python3 function_app/package.py (vendors gateway/, builds the zip)
#   4. publish              az functionapp deployment source config-zip --build-remote true
#   5. wait                 until the host lists on_config_blob_created
#   6. event subscription   az deployment group create ... deployEventSubscription=true
#   7. print                the gateway environment and the next steps
#
# Options:
#   -g, --resource-group NAME   target resource group (or env RESOURCE_GROUP)
#   -l, --location LOCATION     create the resource group there if needed (not with --what-if)
#   -p, --parameters FILE       parameters file (default infra/main.parameters.json)
#   -n, --name NAME             deployment name (default litellm-gateway-infra)
#       --what-if               show what step 2 would change; deploy and publish nothing
#       --skip-publish          skip steps 3-5 (code published some other way); step 6 then
#                               runs only if the function already exists
#       --event-subscription auto|true|false
#                               step 6: auto (default) creates the subscription once the
#                               function exists; true fails if it does not; false never
#                               creates it. Event Grid refuses an AzureFunction destination
#                               whose function does not exist yet, hence the order.
#       --env-file FILE         also write the gateway env (NAME=value, non-secret) to FILE
#   -h, --help
#
# Environment: PYTHON (default python3) runs the packaging step; FUNCTION_WAIT_SECONDS
# (default 300) bounds step 5.
#
# Nothing secret is printed: the template creates no keys or connection strings, and
# LITELLM_MASTER_KEY is only ever referenced by name.
set -euo pipefail

SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
FUNCTION_NAME="on_config_blob_created"
CONFIG_CONTAINER="litellm-config"
PYTHON="${PYTHON:-python3}"
FUNCTION_WAIT_SECONDS="${FUNCTION_WAIT_SECONDS:-300}"

usage() {
  sed -n '2,/^set -euo pipefail/p' "$SCRIPT_PATH" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

die() {
  echo "error: $*" >&2
  exit 1
}

need_value() {
  [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"
}

step() {
  echo
  echo "== Step $1 =="
}

RESOURCE_GROUP="${RESOURCE_GROUP:-}"
LOCATION=""
PARAMS_FILE="infra/main.parameters.json"
DEPLOYMENT_NAME="litellm-gateway-infra"
WHAT_IF=false
SKIP_PUBLISH=false
EVENT_SUBSCRIPTION="auto"
ENV_FILE=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    -g|--resource-group) need_value "$@"; RESOURCE_GROUP="$2"; shift 2 ;;
    -l|--location) need_value "$@"; LOCATION="$2"; shift 2 ;;
    -p|--parameters) need_value "$@"; PARAMS_FILE="$2"; shift 2 ;;
    -n|--name) need_value "$@"; DEPLOYMENT_NAME="$2"; shift 2 ;;
    --what-if) WHAT_IF=true; shift ;;
    --skip-publish) SKIP_PUBLISH=true; shift ;;
    --event-subscription) need_value "$@"; EVENT_SUBSCRIPTION="$2"; shift 2 ;;
    --env-file) need_value "$@"; ENV_FILE="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

# An --env-file given relative to the caller's directory stays there.
if [[ -n "$ENV_FILE" && "$ENV_FILE" != /* ]]; then
  ENV_FILE="$PWD/$ENV_FILE"
fi

# Paths below are relative to the repository root, wherever the script is called from.
cd "$(dirname "$SCRIPT_PATH")/.."

[[ -n "$RESOURCE_GROUP" ]] || { usage >&2; die "--resource-group is required"; }
[[ -f "$PARAMS_FILE" ]] || die "parameters file not found: $PARAMS_FILE"
[[ -f infra/main.bicep ]] || die "infra/main.bicep not found"
case "$EVENT_SUBSCRIPTION" in
  auto|true|false) ;;
  *) die "--event-subscription must be auto, true or false" ;;
esac
[[ "$FUNCTION_WAIT_SECONDS" =~ ^[0-9]+$ ]] || die "FUNCTION_WAIT_SECONDS must be a number of seconds"
command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is required: https://learn.microsoft.com/cli/azure/install-azure-cli"
if [[ "$WHAT_IF" != true && "$SKIP_PUBLISH" != true ]]; then
  command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON is required to package the Function (or set PYTHON=...)"
fi
az account show --output none 2>/dev/null || die "not logged in: run 'az login' (and 'az account set --subscription <id>')"

deployment_output() {
  az deployment group show \
    --resource-group "$RESOURCE_GROUP" \
    --name "$DEPLOYMENT_NAME" \
    --query "properties.outputs.$1.value" \
    --output tsv | tr -d '\r'
}

# Is on_config_blob_created published on the Function App of this deployment?
function_exists() {
  local app="${1:-}"
  [[ -n "$app" ]] || app="$(deployment_output functionAppName 2>/dev/null || true)"
  [[ -n "$app" ]] || return 1
  az functionapp function show \
    --resource-group "$RESOURCE_GROUP" \
    --name "$app" \
    --function-name "$FUNCTION_NAME" \
    --output none 2>/dev/null
}

deploy_infra() {
  local subscription="$1"; shift
  az deployment group create \
    --resource-group "$RESOURCE_GROUP" \
    --name "$DEPLOYMENT_NAME" \
    --template-file infra/main.bicep \
    --parameters "@${PARAMS_FILE}" \
    --parameters "deployEventSubscription=${subscription}" \
    "$@"
}

# ---- 1. resource group
step "1: resource group ($RESOURCE_GROUP)"
if [[ -z "$LOCATION" ]]; then
  echo "using the existing resource group (no -l given)"
elif [[ "$WHAT_IF" == true ]]; then
  az group show --name "$RESOURCE_GROUP" --output none 2>/dev/null \
    || die "resource group $RESOURCE_GROUP does not exist (--what-if creates nothing)"
else
  az group create --name "$RESOURCE_GROUP" --location "$LOCATION" --output none
fi

# ---- 2. infrastructure
# Event Grid validates an AzureFunction destination when the subscription is created, so
# the first deployment (no code published yet) leaves it out; step 6 adds it.
subscription_now=false
if [[ "$EVENT_SUBSCRIPTION" != false ]] && function_exists; then
  subscription_now=true
fi
step "2: infrastructure (infra/main.bicep, deployEventSubscription=$subscription_now)"
if [[ "$WHAT_IF" == true ]]; then
  deploy_infra "$subscription_now" --what-if
  exit 0
fi
deploy_infra "$subscription_now" --output none

storage_account="$(deployment_output storageAccountName)"
function_app="$(deployment_output functionAppName)"
gateway_client_id="$(deployment_output GATEWAY_MI_CLIENT_ID)"
[[ -n "$function_app" ]] || die "the deployment has no output functionAppName"

# ---- 3-5. package, publish, wait
if [[ "$SKIP_PUBLISH" == true ]]; then
  step "3-5: package and publish skipped (--skip-publish)"
else
  package_dir="$(mktemp -d)"
  trap 'rm -rf "$package_dir"' EXIT
  package="$package_dir/function_app.zip"

  step "3: package the Function ($PYTHON function_app/package.py)"
  "$PYTHON" function_app/package.py --output "$package"

  step "4: publish to $function_app (Flex Consumption remote build installs requirements.txt)"
  az functionapp deployment source config-zip \
    --resource-group "$RESOURCE_GROUP" \
    --name "$function_app" \
    --src "$package" \
    --build-remote true \
    --output none

  step "5: wait for $FUNCTION_NAME (up to ${FUNCTION_WAIT_SECONDS}s)"
  waited=0
  until function_exists "$function_app"; do
    if (( waited >= FUNCTION_WAIT_SECONDS )); then
      die "$FUNCTION_NAME did not appear on $function_app within ${FUNCTION_WAIT_SECONDS}s; check the deployment log in the portal (Deployment Center) and re-run"
    fi
    sleep 10
    waited=$((waited + 10))
  done
  echo "$FUNCTION_NAME is published"
fi

# ---- 6. Event Grid subscription
subscription_deployed="$subscription_now"
if [[ "$subscription_now" == true ]]; then
  step "6: event subscription: already deployed in step 2"
elif [[ "$EVENT_SUBSCRIPTION" == false ]]; then
  step "6: event subscription: skipped (--event-subscription false)"
elif function_exists "$function_app"; then
  step "6: event subscription (Event Grid -> $FUNCTION_NAME, deployEventSubscription=true)"
  deploy_infra true --output none
  subscription_deployed=true
elif [[ "$EVENT_SUBSCRIPTION" == true ]]; then
  die "--event-subscription true, but $FUNCTION_NAME is not published on $function_app"
else
  step "6: event subscription: skipped, $FUNCTION_NAME is not published yet"
fi

# ---- 7. print
step "7: print the gateway environment (non-secret; put into infra/k8s/configmap.yaml)"
env_lines="$(
  az deployment group show \
    --resource-group "$RESOURCE_GROUP" \
    --name "$DEPLOYMENT_NAME" \
    --query "properties.outputs.gatewayEnv.value[].[name, value]" \
    --output tsv | tr -d '\r' | while IFS=$'\t' read -r name value; do
      printf '%s=%s\n' "$name" "$value"
    done
)"
printf '%s\n' "$env_lines"
if [[ -n "$ENV_FILE" ]]; then
  printf '%s\n' "$env_lines" > "$ENV_FILE"
  echo "(written to $ENV_FILE)"
fi

echo
echo "== Per pod =="
echo "SERVICEBUS_SUBSCRIPTION: replica-<ordinal> (set in infra/k8s/statefulset.yaml); provisioned:"
deployment_output serviceBusSubscriptions | sed 's/^/  /'
echo "Service account annotation azure.workload.identity/client-id: $gateway_client_id"

echo
echo "== Next steps =="
if [[ "$subscription_deployed" == true ]]; then
  echo "1. Function $FUNCTION_NAME on $function_app receives BlobCreated for $CONFIG_CONTAINER/config.yaml."
else
  cat <<NEXT
1. The Event Grid subscription is not deployed yet: publish the Function, then re-run
     infra/deploy.sh -g $RESOURCE_GROUP -p $PARAMS_FILE
NEXT
fi
cat <<NEXT
2. Upload a config (operatorPrincipalIds may write config.yaml and nothing else):
     az storage blob upload --auth-mode login \\
       --account-name $storage_account --container-name $CONFIG_CONTAINER \\
       --name config.yaml --file config.yaml --overwrite
   See why a config was rejected:
     az storage blob download --auth-mode login --account-name $storage_account \\
       --container-name $CONFIG_CONTAINER --name status/config.yaml.json --file /dev/stdout
   Current release:
     az storage blob download --auth-mode login --account-name $storage_account \\
       --container-name $CONFIG_CONTAINER --name releases/current.json --file /dev/stdout
3. Kubernetes (namespace must match aksNamespace / aksServiceAccountName):
     kubectl create secret generic litellm-master-key --namespace <namespace> \\
       --from-literal=LITELLM_MASTER_KEY=<your-master-key>
     kubectl apply -k infra/k8s -n <namespace>
NEXT
