// Optional Azure Cache for Redis for the gateway (LiteLLM response cache, applied-version
// keys). Entra ID only: access keys disabled, TLS only; the gateway infra identity gets
// the built-in "Data Contributor" access policy (read/write, no admin/dangerous commands).

@description('Azure region.')
param location string

@description('Cache name.')
param redisName string

@description('SKU. Basic has no SLA; Standard adds a replica.')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param skuName string = 'Standard'

@description('Cache size (C0..C6 for Basic/Standard, P1..P5 for Premium).')
@minValue(0)
@maxValue(6)
param capacity int = 1

@description('Principal (object) ID of the gateway infra identity.')
param gatewayPrincipalId string

@description('Display alias for the access policy assignment (the identity name).')
param gatewayIdentityName string

@description('Tags for every resource.')
param tags object = {}

resource redis 'Microsoft.Cache/redis@2024-03-01' = {
  // checkov:skip=CKV_AZURE_89: The gateway reaches Redis over the public endpoint unless a private endpoint is added per environment; access keys are disabled (Entra ID only) and the non-TLS port is off.
  name: redisName
  location: location
  tags: tags
  properties: {
    sku: {
      name: skuName
      family: skuName == 'Premium' ? 'P' : 'C'
      capacity: capacity
    }
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    disableAccessKeyAuthentication: true
    redisConfiguration: {
      'aad-enabled': 'true'
    }
  }
}

resource gatewayAccess 'Microsoft.Cache/redis/accessPolicyAssignments@2024-03-01' = {
  parent: redis
  name: guid(redis.id, gatewayPrincipalId, 'Data Contributor')
  properties: {
    accessPolicyName: 'Data Contributor'
    objectId: gatewayPrincipalId
    objectIdAlias: gatewayIdentityName
  }
}

output redisName string = redis.name
output hostName string = redis.properties.hostName
output sslPort int = redis.properties.sslPort
