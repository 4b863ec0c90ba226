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

@description('Object IDs of operators (users or groups) who upload config.yaml: Storage Blob Data Contributor on the config container.')
param operatorPrincipalIds array = []

@description('Tags for every resource.')
param tags object = {}

// Built-in roles.
var storageBlobDataReaderRoleId = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

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

// Function: read the uploaded version, write releases/* and status/*, conditional (ETag) updates.
resource functionConfigContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(configContainer.id, functionPrincipalId, storageBlobDataContributorRoleId)
  scope: configContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Operators: az storage blob upload --auth-mode login (and reading status/config.yaml.json).
// principalType is omitted because an entry may be a user or a group.
resource operatorConfigContributors 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in operatorPrincipalIds: {
  name: guid(configContainer.id, principalId, storageBlobDataContributorRoleId)
  scope: configContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: principalId
  }
}]

output storageAccountId string = storage.id
output storageAccountName string = storage.name
output blobAccountUrl string = 'https://${storage.name}.blob.${environment().suffixes.storage}'
output configContainerName string = configContainer.name
output deadLetterContainerName string = deadLetterContainer.name
