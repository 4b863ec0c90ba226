// User-assigned managed identities for the config-push pipeline and the gateway,
// plus AKS workload-identity federation for every identity the gateway pod uses.
//
//   <prefix>-func-id          Azure Function (reads/writes the config container, sends to Service Bus)
//   <prefix>-gateway-id       gateway "infra" identity (blob read, Service Bus receive, Redis)
//   <prefix>-aoai-<region>-id one per Azure OpenAI region; only role: Cognitive Services OpenAI User
//
// Federated credentials: a pod can use several user-assigned identities through one
// Kubernetes service account, as long as each identity trusts that service account.
// The webhook injects AZURE_CLIENT_ID for the identity named in the service account
// annotation (the gateway identity); the regional identities are selected in code by
// their client IDs (EASTUS_MI_CLIENT_ID, WESTUS_MI_CLIENT_ID, ...).

@description('Azure region for the identity resources (identities are global principals; this is only where the resource lives).')
param location string

@description('Name prefix for the identities.')
param namePrefix string

@description('Azure OpenAI regions, one identity each: [{ name: eastus, accountResourceId: /subscriptions/.../accounts/... }]. The name (letters, digits, - or .) names the identity and the env var <NAME>_MI_CLIENT_ID.')
param openAiRegions array

@description('OIDC issuer URL of the AKS cluster (az aks show --query oidcIssuerProfile.issuerUrl). Empty: no federated credentials.')
param aksOidcIssuerUrl string = ''

@description('Kubernetes namespace of the gateway service account.')
param aksNamespace string = 'litellm'

@description('Kubernetes service account the gateway pods run as.')
param aksServiceAccountName string = 'litellm-gateway'

@description('Tags for every resource.')
param tags object = {}

var federate = !empty(aksOidcIssuerUrl)
var federationSubject = 'system:serviceaccount:${aksNamespace}:${aksServiceAccountName}'
var federationName = 'aks-${aksNamespace}-${aksServiceAccountName}'
// Filtered loops ([for x in y: if (c) {...}]) are valid Bicep but not understood by the
// offline parser (pycep) used in CI, so the federated credentials loop over a range
// that is empty when federation is off.
var federatedRegionCount = federate ? length(openAiRegions) : 0
// The gateway reads each regional client id from <REGION>_MI_CLIENT_ID. Environment variable
// names allow only letters, digits and '_', so a region entry named 'sweden-central' (or
// 'eastus.ptu') becomes SWEDEN_CENTRAL_MI_CLIENT_ID (EASTUS_PTU_MI_CLIENT_ID). One expression,
// used by both outputs below.
var regionalEnvNames = [for region in openAiRegions: '${toUpper(replace(replace(region.name, '-', '_'), '.', '_'))}_MI_CLIENT_ID']

resource functionIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-func-id'
  location: location
  tags: tags
}

resource gatewayIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-gateway-id'
  location: location
  tags: tags
}

resource regionalIdentities 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = [for region in openAiRegions: {
  name: '${namePrefix}-aoai-${region.name}-id'
  location: location
  tags: tags
}]

resource gatewayFederation 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = if (federate) {
  parent: gatewayIdentity
  name: federationName
  properties: {
    issuer: aksOidcIssuerUrl
    subject: federationSubject
    audiences: [
      'api://AzureADTokenExchange'
    ]
  }
}

// One credential per identity (each has its own parent), so the "no concurrent writes
// of federated credentials on the same identity" limit does not apply.
resource regionalFederation 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = [for i in range(0, federatedRegionCount): {
  parent: regionalIdentities[i]
  name: federationName
  properties: {
    issuer: aksOidcIssuerUrl
    subject: federationSubject
    audiences: [
      'api://AzureADTokenExchange'
    ]
  }
}]

output functionIdentityId string = functionIdentity.id
output functionIdentityName string = functionIdentity.name
output functionClientId string = functionIdentity.properties.clientId
output functionPrincipalId string = functionIdentity.properties.principalId

output gatewayIdentityId string = gatewayIdentity.id
output gatewayIdentityName string = gatewayIdentity.name
output gatewayClientId string = gatewayIdentity.properties.clientId
output gatewayPrincipalId string = gatewayIdentity.properties.principalId

@description('One entry per Azure OpenAI region: the env var the gateway reads and the identity behind it.')
output regionalIdentities array = [for (region, i) in openAiRegions: {
  region: region.name
  envVar: regionalEnvNames[i]
  clientId: regionalIdentities[i].properties.clientId
  principalId: regionalIdentities[i].properties.principalId
  identityId: regionalIdentities[i].id
  accountResourceId: region.accountResourceId
}]

@description('The regional client IDs in Kubernetes env format: [{ name: EASTUS_MI_CLIENT_ID, value: <client id> }, ...].')
output regionalEnv array = [for (region, i) in openAiRegions: {
  name: regionalEnvNames[i]
  value: regionalIdentities[i].properties.clientId
}]
