#!/usr/bin/env bash
# Deploy the Azure resources of the LiteLLM gateway config push (infra/main.bicep) into a
# resource group, then print the gateway environment and how to upload a config.
#
#   infra/deploy.sh -g <resource-group> [-l <location>] [options]
#
# Options:
#   -g, --resource-group NAME   target resource group (or env RESOURCE_GROUP)
#   -l, --location LOCATION     create the resource group there if needed (not with --what-if)
#   -p, --parameters FILE       parameters file (default infra/main.parameters.json)
#   -n, --name NAME             deployment name (default litellm-gateway-infra)
#       --what-if               show what would change; deploy nothing
#       --event-subscription auto|true|false
#                               create the Event Grid -> Function subscription. Event Grid
#                               refuses it until the function code is published, so "auto"
#                               (default) enables it once on_config_blob_created exists.
#       --env-file FILE         also write the gateway env (NAME=value, non-secret) to FILE
#   -h, --help
#
# Nothing secret is printed: the template creates no keys or connection strings, and
# LITELLM_MASTER_KEY is only ever referenced by name.
set -euo pipefail

SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
FUNCTION_NAME="on_config_blob_created"
CONFIG_CONTAINER="litellm-config"

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

RESOURCE_GROUP="${RESOURCE_GROUP:-}"
LOCATION=""
PARAMS_FILE="infra/main.parameters.json"
DEPLOYMENT_NAME="litellm-gateway-infra"
WHAT_IF=false
EVENT_SUBSCRIPTION="auto"
ENV_FILE=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    -g|--resource-group) need_value "$@"; RESOURCE_GROUP="$2"; shift 2 ;;
    -l|--location) need_value "$@"; LOCATION="$2"; shift 2 ;;
    -p|--parameters) need_value "$@"; PARAMS_FILE="$2"; shift 2 ;;
    -n|--name) need_value "$@"; DEPLOYMENT_NAME="$2"; shift 2 ;;
    --what-if) WHAT_IF=true; shift ;;
    --event-subscription) need_value "$@"; EVENT_SUBSCRIPTION="$2"; shift 2 ;;
    --env-file) need_value "$@"; ENV_FILE="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

# Paths below are relative to the repository root, wherever the script is called from.
cd "$(dirname "$SCRIPT_PATH")/.."

[[ -n "$RESOURCE_GROUP" ]] || { usage >&2; die "--resource-group is required"; }
[[ -f "$PARAMS_FILE" ]] || die "parameters file not found: $PARAMS_FILE"
[[ -f infra/main.bicep ]] || die "infra/main.bicep not found"
command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is required: https://learn.microsoft.com/cli/azure/install-azure-cli"
az account show --output none 2>/dev/null || die "not logged in: run 'az login' (and 'az account set --subscription <id>')"

case "$EVENT_SUBSCRIPTION" in
  auto|true|false) ;;
  *) die "--event-subscription must be auto, true or false" ;;
esac

if [[ -n "$LOCATION" ]]; then
  if [[ "$WHAT_IF" == true ]]; then
    az group show --name "$RESOURCE_GROUP" --output none 2>/dev/null \
      || die "resource group $RESOURCE_GROUP does not exist (--what-if creates nothing)"
  else
    az group create --name "$RESOURCE_GROUP" --location "$LOCATION" --output none
  fi
fi

deployment_output() {
  az deployment group show \
    --resource-group "$RESOURCE_GROUP" \
    --name "$DEPLOYMENT_NAME" \
    --query "properties.outputs.$1.value" \
    --output tsv
}

# Event Grid validates an AzureFunction destination on creation, so the subscription can
# only be created once the function code has been published.
function_exists() {
  local app
  app="$(deployment_output functionAppName 2>/dev/null || true)"
  [[ -n "$app" ]] || return 1
  az functionapp function show \
    --resource-group "$RESOURCE_GROUP" \
    --name "$app" \
    --function-name "$FUNCTION_NAME" \
    --output none 2>/dev/null
}

if [[ "$EVENT_SUBSCRIPTION" == auto ]]; then
  if function_exists; then EVENT_SUBSCRIPTION=true; else EVENT_SUBSCRIPTION=false; fi
  echo "Event Grid subscription: $EVENT_SUBSCRIPTION (auto: function $FUNCTION_NAME $([[ $EVENT_SUBSCRIPTION == true ]] && echo found || echo 'not published yet'))"
fi

deploy_args=(
  --resource-group "$RESOURCE_GROUP"
  --name "$DEPLOYMENT_NAME"
  --template-file infra/main.bicep
  --parameters "@${PARAMS_FILE}"
  --parameters "deployEventSubscription=${EVENT_SUBSCRIPTION}"
)

if [[ "$WHAT_IF" == true ]]; then
  az deployment group create "${deploy_args[@]}" --what-if
  exit 0
fi

echo "Deploying infra/main.bicep to resource group $RESOURCE_GROUP (deployment $DEPLOYMENT_NAME)..."
az deployment group create "${deploy_args[@]}" --output none

storage_account="$(deployment_output storageAccountName)"
function_app="$(deployment_output functionAppName)"
gateway_client_id="$(deployment_output GATEWAY_MI_CLIENT_ID)"

echo
echo "== Gateway environment (non-secret; put into infra/k8s/configmap.yaml) =="
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
deployment_output serviceBusSubscriptions | tr -d '\r' | sed 's/^/  /'
echo "Service account annotation azure.workload.identity/client-id: $gateway_client_id"

echo
echo "== Next steps =="
if [[ "$EVENT_SUBSCRIPTION" != true ]]; then
  cat <<NEXT
1. Publish the Function code, then re-run this script to create the Event Grid subscription:
     (cd function_app && func azure functionapp publish $function_app --python)
     infra/deploy.sh -g $RESOURCE_GROUP -p $PARAMS_FILE
NEXT
else
  echo "1. Function $FUNCTION_NAME on $function_app receives BlobCreated for $CONFIG_CONTAINER/config.yaml."
fi
cat <<NEXT
2. Upload a config (needs Storage Blob Data Contributor on the container: parameter operatorPrincipalIds):
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
