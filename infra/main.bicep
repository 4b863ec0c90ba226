// LiteLLM gateway on Azure: event-driven config push.
//
//   az storage blob upload (litellm-config/config.yaml)
//     -> Event Grid system topic (BlobCreated, subject = the config blob)
//     -> Function on_config_blob_created (validate, write releases/, publish)
//     -> Service Bus topic config-updates -> subscription replica-<ordinal> per gateway pod
//
// Least privilege: every workload has its own user-assigned identity and only the roles in
// the matrix in infra/README.md, scoped to a container, a topic or an account - never to
// the resource group. No connection strings or keys are created or output.
//
// Checked offline in CI with pycep-parser and checkov (the bicep binary cannot be downloaded
// there); az deployment compiles it for real.

targetScope = 'resourceGroup'

@description('Azure region for all resources (must offer Flex Consumption Functions).')
param location string = resourceGroup().location

@description('Short prefix for resource names: lowercase letters and digits (hyphens are dropped where a name cannot contain them).')
@minLength(3)
@maxLength(11)
param namePrefix string = 'litellmgw'

@description('Tags for every resource.')
param tags object = {}

@description('Azure OpenAI regions: [{ name: eastus, accountResourceId: <resource ID of the existing Azure OpenAI account> }]. Each gets its own user-assigned identity, exposed to the gateway as <NAME>_MI_CLIENT_ID (upper case, - and . become _).')
param openAiRegions array

@description('Keep previous versions of config.yaml and of the releases in the config container.')
param enableBlobVersioning bool = true

@description('Allow shared-key (account key / SAS) access to the config storage account. Keep false: all clients use Entra ID.')
param allowSharedKeyAccess bool = false

@description('Replication of the config and Function host storage accounts (ZRS needs a region with availability zones; use Standard_LRS/GRS elsewhere).')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param storageSkuName string = 'Standard_ZRS'

@description('Object IDs of operators and CI (users, groups, service principals) allowed to upload config.yaml with --auth-mode login. An ABAC condition limits their writes to that one blob: releases/ and status/ are written by the Function only.')
param operatorPrincipalIds array = []

@description('Pre-provisioned Service Bus subscriptions replica-0 .. replica-(N-1). Keep >= the StatefulSet replica count (or HPA maximum).')
@minValue(1)
@maxValue(100)
param replicaSubscriptionCount int = 3

@description('Grant the gateway Azure Service Bus Data Owner on the topic so it can create its own per-replica subscriptions (auto-delete-on-idle). Default: receive only.')
param gatewayCanManageSubscriptions bool = false

@description('Service Bus duplicate detection window (message_id is content-derived).')
param duplicateDetectionHistoryTimeWindow string = 'PT10M'

@description('Create the Event Grid -> Function subscription. Event Grid checks that the function exists, so the first deployment (before the Function code is published) runs with false; deploy.sh sets it.')
param deployEventSubscription bool = false

@description('Flex Consumption scale-out limit for the Function.')
@minValue(1)
@maxValue(1000)
param functionMaximumInstanceCount int = 40

@description('Deploy Azure Managed Redis (Entra auth, TLS, port 10000) for the gateway.')
param enableRedis bool = false

@description('Azure Managed Redis SKU: tier and size in one name (there is no separate capacity).')
@allowed([
  'Balanced_B0'
  'Balanced_B1'
  'Balanced_B3'
  'Balanced_B5'
  'Balanced_B10'
  'Balanced_B20'
  'Balanced_B50'
  'MemoryOptimized_M10'
  'MemoryOptimized_M20'
  'MemoryOptimized_M50'
  'ComputeOptimized_X3'
  'ComputeOptimized_X5'
  'ComputeOptimized_X10'
])
param redisSkuName string = 'Balanced_B1'

@description('AKS OIDC issuer URL (az aks show -g <rg> -n <aks> --query oidcIssuerProfile.issuerUrl -o tsv). Empty: no federated credentials are created.')
param aksOidcIssuerUrl string = ''

@description('Kubernetes namespace the gateway runs in.')
param aksNamespace string = 'litellm'

@description('Kubernetes service account of the gateway (infra/k8s/serviceaccount.yaml).')
param aksServiceAccountName string = 'litellm-gateway'

// Fixed by the gateway/Function contract (gateway env BLOB_DOC_CONTAINER, SERVICEBUS_TOPIC).
var configContainerName = 'litellm-config'
var configBlobName = 'config.yaml'
var deadLetterContainerName = 'eventgrid-deadletter'
var serviceBusTopicName = 'config-updates'
var functionName = 'on_config_blob_created'

var suffix = uniqueString(resourceGroup().id, namePrefix)
var compactPrefix = replace(toLower(namePrefix), '-', '')
var configStorageAccountName = take('${compactPrefix}cfg${suffix}', 24)
var hostStorageAccountName = take('${compactPrefix}fn${suffix}', 24)
var serviceBusNamespaceName = '${namePrefix}-sb-${suffix}'
var functionAppName = '${namePrefix}-cfgfn-${suffix}'
var redisName = '${namePrefix}-redis-${suffix}'

module identities 'modules/identities.bicep' = {
  name: 'identities'
  params: {
    location: location
    namePrefix: namePrefix
    openAiRegions: openAiRegions
    aksOidcIssuerUrl: aksOidcIssuerUrl
    aksNamespace: aksNamespace
    aksServiceAccountName: aksServiceAccountName
    tags: tags
  }
}

module configStorage 'modules/storage.bicep' = {
  name: 'config-storage'
  params: {
    location: location
    storageAccountName: configStorageAccountName
    configContainerName: configContainerName
    configBlobName: configBlobName
    deadLetterContainerName: deadLetterContainerName
    enableVersioning: enableBlobVersioning
    allowSharedKeyAccess: allowSharedKeyAccess
    skuName: storageSkuName
    gatewayPrincipalId: identities.outputs.gatewayPrincipalId
    functionPrincipalId: identities.outputs.functionPrincipalId
    operatorPrincipalIds: operatorPrincipalIds
    tags: tags
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'service-bus'
  params: {
    location: location
    namespaceName: serviceBusNamespaceName
    topicName: serviceBusTopicName
    replicaSubscriptionCount: replicaSubscriptionCount
    duplicateDetectionHistoryTimeWindow: duplicateDetectionHistoryTimeWindow
    functionPrincipalId: identities.outputs.functionPrincipalId
    gatewayPrincipalId: identities.outputs.gatewayPrincipalId
    gatewayCanManageSubscriptions: gatewayCanManageSubscriptions
    tags: tags
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'function-app'
  params: {
    location: location
    functionAppName: functionAppName
    planName: '${namePrefix}-cfgfn-plan-${suffix}'
    hostStorageAccountName: hostStorageAccountName
    storageSkuName: storageSkuName
    logAnalyticsName: '${namePrefix}-log-${suffix}'
    appInsightsName: '${namePrefix}-appi-${suffix}'
    functionIdentityId: identities.outputs.functionIdentityId
    functionClientId: identities.outputs.functionClientId
    functionPrincipalId: identities.outputs.functionPrincipalId
    configBlobAccountUrl: configStorage.outputs.blobAccountUrl
    configContainerName: configStorage.outputs.configContainerName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    serviceBusTopicName: serviceBus.outputs.topicName
    maximumInstanceCount: functionMaximumInstanceCount
    tags: tags
  }
}

module eventGrid 'modules/eventgrid.bicep' = {
  name: 'event-grid'
  params: {
    location: location
    storageAccountName: configStorage.outputs.storageAccountName
    configContainerName: configContainerName
    configBlobName: configBlobName
    deadLetterContainerName: configStorage.outputs.deadLetterContainerName
    functionAppName: functionApp.outputs.functionAppName
    functionName: functionName
    deployEventSubscription: deployEventSubscription
    tags: tags
  }
}

module redis 'modules/redis.bicep' = if (enableRedis) {
  name: 'redis'
  params: {
    location: location
    redisName: redisName
    skuName: redisSkuName
    gatewayPrincipalId: identities.outputs.gatewayPrincipalId
    tags: tags
  }
}

// Each Azure OpenAI account may live in another resource group or subscription: deploy the
// role assignment at the account's own resource group, scoped to the account.
module openAiRoles 'modules/openai-role.bicep' = [for (region, i) in openAiRegions: {
  name: 'aoai-role-${region.name}-${suffix}'
  scope: resourceGroup(split(region.accountResourceId, '/')[2], split(region.accountResourceId, '/')[4])
  params: {
    accountName: last(split(region.accountResourceId, '/'))
    principalId: identities.outputs.regionalIdentities[i].principalId
  }
}]

var blobAccountUrl = configStorage.outputs.blobAccountUrl
var serviceBusFqdn = serviceBus.outputs.fullyQualifiedNamespace
var redisHost = enableRedis ? redis.outputs.hostName : ''

// ---- Outputs: everything the gateway environment needs (no secrets) ----

output AZURE_TENANT_ID string = tenant().tenantId
output BLOB_ACCOUNT_URL string = blobAccountUrl
output BLOB_DOC_CONTAINER string = configContainerName
output SERVICEBUS_FULLY_QUALIFIED_NAMESPACE string = serviceBusFqdn
output SERVICEBUS_TOPIC string = serviceBusTopicName
output GATEWAY_MI_CLIENT_ID string = identities.outputs.gatewayClientId
@description('Object (principal) ID of the gateway identity: the Redis user name for Entra auth (REDIS_USERNAME).')
output GATEWAY_MI_PRINCIPAL_ID string = identities.outputs.gatewayPrincipalId
output REDIS_HOST string = redisHost

@description('Service Bus subscriptions for StatefulSet pods: pod ordinal k uses replica-k.')
output serviceBusSubscriptions array = serviceBus.outputs.subscriptionNames

@description('Regional identities: [{ region, envVar, clientId, ... }].')
output regionalIdentities array = identities.outputs.regionalIdentities

@description('Gateway environment as [{ name, value }] (the Kubernetes env format), non-secret values only. SERVICEBUS_SUBSCRIPTION is per pod and LITELLM_MASTER_KEY comes from a Kubernetes secret.')
output gatewayEnv array = concat([
  {
    name: 'BLOB_AUTH_TYPE'
    value: 'MI'
  }
  {
    name: 'BLOB_ACCOUNT_URL'
    value: blobAccountUrl
  }
  {
    name: 'BLOB_DOC_CONTAINER'
    value: configContainerName
  }
  {
    name: 'BLOB_MI_CLIENT_ID'
    value: identities.outputs.gatewayClientId
  }
  {
    name: 'AZURE_TENANT_ID'
    value: tenant().tenantId
  }
  {
    name: 'SERVICEBUS_FULLY_QUALIFIED_NAMESPACE'
    value: serviceBusFqdn
  }
  {
    name: 'SERVICEBUS_TOPIC'
    value: serviceBusTopicName
  }
  {
    name: 'SERVICEBUS_MI_CLIENT_ID'
    value: identities.outputs.gatewayClientId
  }
], identities.outputs.regionalEnv, enableRedis ? [
  {
    name: 'REDIS_HOST'
    value: redisHost
  }
  {
    name: 'REDIS_AUTH_TYPE'
    value: 'MI'
  }
  {
    name: 'REDIS_MI_CLIENT_ID'
    value: identities.outputs.gatewayClientId
  }
  {
    name: 'REDIS_USERNAME'
    value: identities.outputs.gatewayPrincipalId
  }
] : [])

output storageAccountName string = configStorage.outputs.storageAccountName
output configBlobName string = configBlobName
output functionAppName string = functionApp.outputs.functionAppName
output functionClientId string = identities.outputs.functionClientId
output serviceBusNamespaceName string = serviceBus.outputs.namespaceName
output eventGridSystemTopicName string = eventGrid.outputs.systemTopicName
output eventSubscriptionDeployed bool = deployEventSubscription
