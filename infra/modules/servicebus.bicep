// Service Bus: topic "config-updates" fanned out to one subscription per gateway replica.
// Entra ID only (disableLocalAuth): no SAS keys or connection strings exist to leak.

@description('Azure region.')
param location string

@description('Service Bus namespace name.')
param namespaceName string

@description('Topic the Function publishes validated releases to. Gateway env SERVICEBUS_TOPIC.')
param topicName string = 'config-updates'

@description('Number of pre-provisioned subscriptions replica-0 .. replica-(N-1), one per StatefulSet pod ordinal. Keep >= the maximum replica count.')
@minValue(1)
@maxValue(100)
param replicaSubscriptionCount int = 3

@description('Duplicate detection window. The Function sets a content-derived message_id, so a retried publish of the same release is dropped by the broker.')
param duplicateDetectionHistoryTimeWindow string = 'PT10M'

@description('Time a release message waits for a replica that is down. Older messages are dropped: the replica catches up from releases/current.json on its next poll.')
param messageTimeToLive string = 'P1D'

@description('Principal ID of the Function identity: Azure Service Bus Data Sender on the topic.')
param functionPrincipalId string

@description('Principal ID of the gateway infra identity: Azure Service Bus Data Receiver on the topic.')
param gatewayPrincipalId string

@description('Also grant the gateway Azure Service Bus Data Owner on the topic, so a gateway without SERVICEBUS_SUBSCRIPTION can create its own subscription (auto-delete-on-idle). Off: only the pre-provisioned subscriptions are used.')
param gatewayCanManageSubscriptions bool = false

@description('Tags for every resource.')
param tags object = {}

// Built-in roles.
var serviceBusDataSenderRoleId = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var serviceBusDataReceiverRoleId = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
var serviceBusDataOwnerRoleId = '090c5cfd-751d-490a-894a-3ce6f1109419'

resource serviceBusNamespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource topic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = {
  parent: serviceBusNamespace
  name: topicName
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionHistoryTimeWindow
    defaultMessageTimeToLive: messageTimeToLive
    enableBatchedOperations: true
    enablePartitioning: false
    supportOrdering: true
    maxSizeInMegabytes: 1024
  }
}

// Pre-provisioned, long-lived subscriptions: no autoDeleteOnIdle (a replica that is
// scaled down for a while must find its subscription again). Expired messages are
// dropped rather than dead-lettered: a newer release supersedes them anyway.
resource replicaSubscriptions 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = [for i in range(0, replicaSubscriptionCount): {
  parent: topic
  name: 'replica-${i}'
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    defaultMessageTimeToLive: messageTimeToLive
    deadLetteringOnMessageExpiration: false
    deadLetteringOnFilterEvaluationExceptions: true
    enableBatchedOperations: true
    requiresSession: false
  }
}]

resource functionSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, functionPrincipalId, serviceBusDataSenderRoleId)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSenderRoleId)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Topic scope covers every subscription of the topic, including ones added later.
resource gatewayReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, gatewayPrincipalId, serviceBusDataReceiverRoleId)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiverRoleId)
    principalId: gatewayPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource gatewaySubscriptionManager 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (gatewayCanManageSubscriptions) {
  name: guid(topic.id, gatewayPrincipalId, serviceBusDataOwnerRoleId)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataOwnerRoleId)
    principalId: gatewayPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output namespaceId string = serviceBusNamespace.id
output namespaceName string = serviceBusNamespace.name
output fullyQualifiedNamespace string = replace(replace(replace(serviceBusNamespace.properties.serviceBusEndpoint, 'https://', ''), ':443', ''), '/', '')
output topicName string = topic.name
output subscriptionNames array = [for i in range(0, replicaSubscriptionCount): replicaSubscriptions[i].name]
