// Optional Azure Managed Redis for the gateway (LiteLLM response cache, applied-version keys).
// Azure Cache for Redis (Microsoft.Cache/redis) is retiring and refuses new caches in tenants
// that had none before the cut-off, so new deployments get Azure Managed Redis: a
// Microsoft.Cache/redisEnterprise cluster with one database.
//
//   Entra ID only   accessKeysAuthentication Disabled; the gateway identity gets an access
//                   policy assignment ('default' policy) and signs in with its object id as
//                   user name (REDIS_USERNAME) and a token for https://redis.azure.com.
//   TLS only        clientProtocol Encrypted, minimum TLS 1.2, port 10000: the gateway's
//                   defaults for a *.redis.azure.net host (REDIS_PORT 10000, REDIS_SSL true).
//   One endpoint    clusteringPolicy EnterpriseCluster: a proxy in front of the shards, so a
//                   plain (non-cluster) client such as the gateway's redis.Redis works.
// Existing Azure Cache for Redis instances keep working with the gateway (REDIS_HOST
// *.redis.cache.windows.net: TLS on 6380); this module just no longer creates them.

@description('Azure region.')
param location string

@description('Cluster name (1-60 letters, digits and hyphens).')
@minLength(1)
@maxLength(60)
param redisName string

// The size is part of the SKU name (Balanced_B1 = 1 GB ... MemoryOptimized_M20 = 24 GB):
// Azure Managed Redis has no separate capacity, so a size can never contradict its SKU.
@description('Azure Managed Redis SKU (tier and size in one name).')
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
param skuName string = 'Balanced_B1'

@description('Replicate the data within the region (no SLA without it).')
param highAvailability bool = true

@description('Principal (object) ID of the gateway infra identity.')
param gatewayPrincipalId string

@description('Tags for every resource.')
param tags object = {}

resource cluster 'Microsoft.Cache/redisEnterprise@2025-07-01' = {
  name: redisName
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    minimumTlsVersion: '1.2'
    highAvailability: highAvailability ? 'Enabled' : 'Disabled'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = {
  parent: cluster
  name: 'default'
  properties: {
    clientProtocol: 'Encrypted'
    port: 10000
    clusteringPolicy: 'EnterpriseCluster'
    evictionPolicy: 'AllKeysLRU'
    accessKeysAuthentication: 'Disabled'
    persistence: {
      aofEnabled: false
      rdbEnabled: false
    }
  }
}

// Access policy assignments are the data-plane permission of Azure Managed Redis (not Azure
// RBAC); 'default' is its built-in read/write policy without admin commands.
resource gatewayAccess 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-07-01' = {
  parent: database
  name: gatewayPrincipalId
  properties: {
    accessPolicyName: 'default'
    user: {
      objectId: gatewayPrincipalId
    }
  }
}

output redisName string = cluster.name
output hostName string = cluster.properties.hostName
output port int = database.properties.port
