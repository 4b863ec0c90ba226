// Event Grid system topic on the config storage account and the subscription that
// delivers Microsoft.Storage.BlobCreated for exactly the config blob to the Function.
// Undeliverable events go to a dead-letter container, written with the topic's own
// managed identity (the storage account has no shared keys).

@description('Azure region (must be the storage account region).')
param location string

@description('Name of the config storage account (event source and dead-letter target).')
param storageAccountName string

@description('Container holding the config blob.')
param configContainerName string = 'litellm-config'

@description('Blob name the operator uploads.')
param configBlobName string = 'config.yaml'

@description('Dead-letter container in the same storage account.')
param deadLetterContainerName string = 'eventgrid-deadletter'

@description('Name of the Function App that handles the event.')
param functionAppName string

@description('Function name inside the app (the Python v2 function name).')
param functionName string = 'on_config_blob_created'

@description('Create the event subscription. Event Grid validates that the function exists, so this needs the Function code published first (deploy.sh detects it).')
param deployEventSubscription bool = true

// Event Grid stops retrying at whichever limit comes first, and it retries on a fixed
// schedule: 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then every 12 h (each
// attempt may also wait up to 30 s for the Function to answer). Within 60 minutes that
// schedule fits 7 attempts (at about 0 s, 10 s, 40 s, 1 min 40 s, 6 min 40 s, 16 min 40 s and
// 46 min 40 s); the 8th would come at 1 h 47 min. So the two numbers below say the same
// thing: 7 attempts within one hour, then the event is dead-lettered. Change them together
// (tests/infra/test_bicep.py checks they agree; infra/README.md says what an operator gets).
@description('Delivery attempts before an event is dead-lettered. Keep consistent with eventTimeToLiveInMinutes and the retry schedule (7 attempts fit in 60 minutes).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 7

@description('Minutes Event Grid keeps retrying an event before dead-lettering it.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 60

@description('Tags for every resource.')
param tags object = {}

// Exactly this blob: '.../blobs/config.yaml'. releases/* and status/* live under other
// prefixes, so the Function's own writes never trigger it.
var configBlobSubject = '/blobServices/default/containers/${configContainerName}/blobs/${configBlobName}'

// Built-in role.
var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: deadLetterContainerName
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: '${storageAccountName}-events'
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

// The topic's identity may write dead letters into the dead-letter container only.
resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, systemTopic.id, storageBlobDataContributorRoleId)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: systemTopic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource configBlobCreated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (deployEventSubscription) {
  parent: systemTopic
  name: 'config-blob-created'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionApp.id}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: configBlobSubject
      subjectEndsWith: '/${configBlobName}'
      isSubjectCaseSensitive: true
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storage.id
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
  dependsOn: [
    deadLetterWriter
  ]
}

output systemTopicName string = systemTopic.name
output eventSubscriptionName string = deployEventSubscription ? 'config-blob-created' : ''
output configBlobSubject string = configBlobSubject
