// Config storage account: holds config.yaml (uploaded by the operator), the releases
// written by the Function (releases/<version>.yaml, releases/current.json), the
// rejection status (status/config.yaml.json) and, in a second container, Event Grid
// dead letters. Entra ID only: shared key access is off unless explicitly enabled.

@description('Azure region.')
param location string

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param storageAccountName string

@description('Container holding config.yaml and the releases. The gateway env BLOB_DOC_CONTAINER must match.')
param configContainerName string = 'litellm-config'

@description('The config blob operators upload; the only blob they may write (ABAC condition below).')
param configBlobName string = 'config.yaml'

@description('Container Event Grid writes undeliverable events to.')
param deadLetterContainerName string = 'eventgrid-deadletter'

@description('Keep previous versions of every blob (config.yaml history, rollback source).')
param enableVersioning bool = true

@description('Allow account-key / SAS access. Off: every client (gateway, Function, az CLI with --auth-mode login) uses Entra ID.')
param allowSharedKeyAccess bool = false

@description('Replication. ZRS keeps the config readable through a zone outage.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param skuName string = 'Standard_ZRS'

@description('Days soft-deleted blobs and containers are kept.')
@minValue(1)
@maxValue(365)
param softDeleteRetentionDays int = 7

@description('Principal ID of the gateway infra identity: Storage Blob Data Reader on the config container.')
param gatewayPrincipalId string

@description('Principal ID of the Function identity: Storage Blob Data Contributor on the config container.')
param functionPrincipalId string

@description('Object IDs of operators and CI (users, groups or service principals) who upload config.yaml: Storage Blob Data Contributor on the config container, for that one blob only.')
param operatorPrincipalIds array = []

@description('Tags for every resource.')
param tags object = {}

// Built-in roles.
var storageBlobDataReaderRoleId = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

// Who may write what in the config container (Azure ABAC conditions on the Blob Data
// Contributor assignments; reads stay unrestricted):
//   operators / CI   only the config blob (config.yaml): an upload must go through the Function
//   Function         only releases/ and status/: it never rewrites what the operator uploaded
// So nobody but the Function can write releases/current.json and skip validation, and the
// gateway writes only its replica reports (status/replicas/*.json). Every write-like data action of the role is covered: write (put blob,
// put block list, metadata), add/action (create), delete, move/action (rename, HNS only).
var releasesPrefix = 'releases/'
var statusPrefix = 'status/'
var notABlobWrite = '!(ActionMatches{\'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write\'}) AND !(ActionMatches{\'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action\'}) AND !(ActionMatches{\'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete\'}) AND !(ActionMatches{\'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action\'})'
var blobPath = '@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path]'
var operatorWriteCondition = '((${notABlobWrite}) OR (${blobPath} StringEquals \'${configBlobName}\'))'
var functionWriteCondition = '((${notABlobWrite}) OR (${blobPath} StringStartsWith \'${releasesPrefix}\') OR (${blobPath} StringStartsWith \'${statusPrefix}\'))'
// Gateway replicas: their own reports only (status/replicas/<replica-id>.json: applied version, ACK/NACK,
// heartbeat; read by `genai-gateway status` and `push --wait`). Every replica runs as the one gateway
// identity, so Azure cannot tell replicas apart: the limit is the reports prefix, not one blob per
// replica. A compromised replica could misreport its peers, never touch config.yaml, releases/ or
// the publisher's verdict (docs/operations.md, "Where replicas report").
var replicaReportsPrefix = 'status/replicas/'
var gatewayReportCondition = '((${notABlobWrite}) OR (${blobPath} StringLike \'${replicaReportsPrefix}*.json\'))'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: Network rules are per environment. The gateway (AKS), the Function (Flex Consumption without VNet integration) and operators reach the account over its public endpoint; access is Entra ID only (no shared key, no anonymous access). Add networkAcls or private endpoints where the network allows it.
  // checkov:skip=CKV_AZURE_59: Public network access is needed without private endpoints (see CKV_AZURE_35); authorization stays Entra ID only.
  // checkov:skip=CKV_AZURE_206: Zone-redundant (ZRS) by default, configurable via storageSkuName (GZRS/RA-GZRS where geo-redundancy is required). config.yaml is reproducible from the operator's source control.
  // checkov:skip=CKV_AZURE_43: The name is a parameter computed in main.bicep as lowercase prefix + uniqueString(), truncated to 24 characters; checkov cannot evaluate it.
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: allowSharedKeyAccess
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    isVersioningEnabled: enableVersioning
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
  }
}

resource configContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: configContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Gateway: read config.yaml, releases/*.yaml and releases/current.json. Nothing else.
resource gatewayConfigReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(configContainer.id, gatewayPrincipalId, storageBlobDataReaderRoleId)
  scope: configContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReaderRoleId)
    principalId: gatewayPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Gateway: write its replica reports, status/replicas/*.json, and nothing else (condition above).
resource gatewayReportWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(configContainer.id, gatewayPrincipalId, storageBlobDataContributorRoleId)
  scope: configContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: gatewayPrincipalId
    principalType: 'ServicePrincipal'
    condition: gatewayReportCondition
    conditionVersion: '2.0'
  }
}

// Function: read the uploaded version; write releases/* and status/* (conditional, ETag) only.
resource functionConfigContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(configContainer.id, functionPrincipalId, storageBlobDataContributorRoleId)
  scope: configContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
    condition: functionWriteCondition
    conditionVersion: '2.0'
  }
}

// Operators and CI: az storage blob upload --auth-mode login of config.yaml, and reading
// status/config.yaml.json and releases/. principalType is omitted because an entry may be a
// user, a group or a service principal.
resource operatorConfigContributors 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in operatorPrincipalIds: {
  name: guid(configContainer.id, principalId, storageBlobDataContributorRoleId)
  scope: configContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: principalId
    condition: operatorWriteCondition
    conditionVersion: '2.0'
  }
}]

output storageAccountId string = storage.id
output storageAccountName string = storage.name
output blobAccountUrl string = 'https://${storage.name}.blob.${environment().suffixes.storage}'
output configContainerName string = configContainer.name
output deadLetterContainerName string = deadLetterContainer.name
