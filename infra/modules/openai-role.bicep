// Grants one regional gateway identity "Cognitive Services OpenAI User" on an existing
// Azure OpenAI account. Deployed by main.bicep at the account's own resource group
// (which may be in another subscription), so the assignment is scoped to the account only.

@description('Name of the existing Azure OpenAI (Cognitive Services) account.')
param accountName string

@description('Principal (object) ID of the regional user-assigned identity.')
param principalId string

// Built-in role: Cognitive Services OpenAI User (inference only, no keys, no management).
var cognitiveServicesOpenAIUserRoleId = '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'

resource openAiAccount 'Microsoft.CognitiveServices/accounts@2023-05-01' existing = {
  name: accountName
}

resource openAiUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(openAiAccount.id, principalId, cognitiveServicesOpenAIUserRoleId)
  scope: openAiAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesOpenAIUserRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output roleAssignmentId string = openAiUser.id
