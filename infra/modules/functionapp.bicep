// Azure Function that validates an uploaded config.yaml and publishes releases.
// Linux, Python 3.11, Flex Consumption (FC1). Flex is the Consumption plan that supports
// identity-based host storage without any account key: the Linux Consumption (Y1) plan
// still needs a key-based content share and is on its retirement path.
//
// Identity-based connections only (user-assigned identity):
//   AzureWebJobsStorage__accountName/__credential/__clientId   host storage (leases, keys)
//   SERVICEBUS__fullyQualifiedNamespace/__credential/__clientId Service Bus output binding, if used
//   functionAppConfig.deployment.storage                        package container, UserAssignedIdentity
//   APPLICATIONINSIGHTS_AUTHENTICATION_STRING                   Entra-authenticated telemetry

@description('Azure region (must offer Flex Consumption).')
param location string

@description('Function app name.')
param functionAppName string

@description('Flex Consumption plan name.')
param planName string

@description('Host storage account name (AzureWebJobsStorage + deployment package); separate from the config account so the Function host never needs broad rights on the config data.')
@minLength(3)
@maxLength(24)
param hostStorageAccountName string

@description('Replication of the host storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param storageSkuName string = 'Standard_ZRS'

@description('Log Analytics workspace name.')
param logAnalyticsName string

@description('Application Insights name.')
param appInsightsName string

@description('Resource ID of the Function user-assigned identity.')
param functionIdentityId string

@description('Client ID of the Function user-assigned identity.')
param functionClientId string

@description('Principal ID of the Function user-assigned identity.')
param functionPrincipalId string

@description('Blob endpoint of the config storage account, e.g. https://<account>.blob.core.windows.net.')
param configBlobAccountUrl string

@description('Config container name.')
param configContainerName string

@description('Service Bus namespace host name, e.g. <ns>.servicebus.windows.net.')
param serviceBusFullyQualifiedNamespace string

@description('Service Bus topic the Function publishes to.')
param serviceBusTopicName string

@description('Flex Consumption scale-out limit.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Flex Consumption instance size.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Log Analytics retention in days.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Tags for every resource.')
param tags object = {}

var deploymentContainerName = 'app-package'

// Built-in roles.
var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageTableDataContributorRoleId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var monitoringMetricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb'

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: Flex Consumption without VNet integration reaches its host storage over the public endpoint; access is Entra ID only (allowSharedKeyAccess false).
  // checkov:skip=CKV_AZURE_59: Same as CKV_AZURE_35: public endpoint needed without VNet integration; no shared key, no anonymous access.
  // checkov:skip=CKV_AZURE_206: Host storage only holds disposable Functions host state and the deployment package (republishable); geo-replication adds nothing. Same SKU parameter as the config account.
  // checkov:skip=CKV_AZURE_43: The name is a parameter computed in main.bicep as lowercase prefix + uniqueString(), truncated to 24 characters; checkov cannot evaluate it.
  name: hostStorageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: storageSkuName
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
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

resource hostBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: hostStorage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: hostBlobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Identity-based AzureWebJobsStorage (documented host-storage permissions): the host keeps
// leases, host keys and the deployment package in blobs (Blob Data Owner) and writes its
// diagnostic events to a table (Table Data Contributor; without it the logs fill with
// warnings). An Event Grid trigger needs no queues; add Storage Queue Data Contributor
// here if a blob or queue trigger is ever added.
resource functionHostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, functionPrincipalId, storageBlobDataOwnerRoleId)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource functionHostTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, functionPrincipalId, storageTableDataContributorRoleId)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: logRetentionDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

resource functionTelemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, functionPrincipalId, monitoringMetricsPublisherRoleId)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption zone redundancy is regional and optional; the pipeline tolerates a zone outage (Event Grid retries for eventTimeToLiveInMinutes, then dead-letters; gateways keep serving the last good release).
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

// Flex Consumption rejects the site properties its deprecation list names (ftpsState,
// use32BitWorkerProcess, linuxFxVersion, alwaysOn, ...) with BadRequest in regions with the
// newer validation, and ignores the app settings it replaced with functionAppConfig
// (FUNCTIONS_WORKER_RUNTIME, WEBSITE_RUN_FROM_PACKAGE, ...). So none of them is set here.
// FTP is off anyway: Flex has no FTP endpoint and basic publishing credentials are disabled
// below. tests/infra/test_bicep.py keeps that list out of this site.
resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_78: Flex Consumption rejects siteConfig.ftpsState (BadRequest); Flex sites have no FTP endpoint and basic publishing credentials are disabled (ftpBasicAuth below).
  // checkov:skip=CKV_AZURE_222: Event Grid push delivery (AzureFunction endpoint) must reach the app; the function has no HTTP trigger and is invoked with the Event Grid system key only.
  // checkov:skip=CKV_AZURE_17: Event Grid does not present client certificates; delivery is authenticated by the Event Grid extension system key.
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales to zero by design; Event Grid retries cover cold starts and instance loss.
  // checkov:skip=CKV_AZURE_213: App Service health check needs an HTTP endpoint; this app only has an Event Grid trigger. Failures surface as Event Grid retries/dead letters and in Application Insights.
  name: functionAppName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${functionIdentityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
      appSettings: [
        {
          name: 'AzureWebJobsStorage__accountName'
          value: hostStorage.name
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: functionClientId
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${functionClientId};Authorization=AAD'
        }
        {
          name: 'AZURE_CLIENT_ID'
          value: functionClientId
        }
        {
          name: 'BLOB_AUTH_TYPE'
          value: 'MI'
        }
        {
          name: 'BLOB_ACCOUNT_URL'
          value: configBlobAccountUrl
        }
        {
          name: 'BLOB_DOC_CONTAINER'
          value: configContainerName
        }
        {
          name: 'BLOB_MI_CLIENT_ID'
          value: functionClientId
        }
        {
          name: 'SERVICEBUS__fullyQualifiedNamespace'
          value: serviceBusFullyQualifiedNamespace
        }
        {
          name: 'SERVICEBUS__credential'
          value: 'managedidentity'
        }
        {
          name: 'SERVICEBUS__clientId'
          value: functionClientId
        }
        {
          name: 'SERVICEBUS_FULLY_QUALIFIED_NAMESPACE'
          value: serviceBusFullyQualifiedNamespace
        }
        {
          name: 'SERVICEBUS_TOPIC'
          value: serviceBusTopicName
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: functionIdentityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
  dependsOn: [
    functionHostBlobOwner
    functionHostTableContributor
    deploymentContainer
  ]
}

// No basic-auth (publishing profile) deployments: publish with Entra ID
// (func azure functionapp publish / az functionapp deploy use the signed-in identity).
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

output functionAppId string = functionApp.id
output functionAppName string = functionApp.name
output hostStorageAccountName string = hostStorage.name
output appInsightsName string = appInsights.name
