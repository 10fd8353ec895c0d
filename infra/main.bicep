// audit-intake on Azure: a Flex Consumption Function App that collects Microsoft 365 audit logs
// with a user-assigned managed identity and no storage keys.
// Deploy: az deployment group create -g <rg> -f infra/main.bicep -p infra/main.parameters.json -p clientSecret=<secret>
targetScope = 'resourceGroup'

@description('Short prefix for resource names (letters and digits).')
@minLength(3)
@maxLength(11)
param namePrefix string = 'auditintake'
param location string = resourceGroup().location

@description('Comma-separated tenant GUIDs (O365_TENANT_IDS).')
param tenantIds string
@description('Optional tenantId=domain pairs (O365_TENANT_NAMES).')
param tenantNames string = ''
@description('Application (client) ID of the multi-tenant app registration.')
param clientId string
@description('secret or certificate: the credential below, kept in Key Vault; federated: secretless, the app\'s managed identity is a federated credential of the app registration.')
@allowed(['secret', 'certificate', 'federated'])
param authMode string = 'secret'
@secure()
@description('Client secret of the app registration (authMode secret), stored in Key Vault.')
param clientSecret string = ''
@secure()
@description('Certificate of the app registration with its private key, as PEM text (authMode certificate), stored in Key Vault.')
param clientCertificatePem string = ''
@allowed(['commercial', 'gcc', 'gcc-high', 'dod'])
param cloud string = 'commercial'
param publisherId string = ''
param contentTypes string = 'Audit.AzureActiveDirectory,Audit.Exchange,Audit.SharePoint,Audit.General,DLP.All'
param listSchedule string = '0 */5 * * * *'
param initialLookback string = '6d23h55m'
param relistOverlap string = '1h'
param listConcurrency int = 16
param listBudget string = '4m'
param requestTimeout string = '60s'
@description('Content downloads of one tenant at once, per instance (the API allows about 2,000 requests a minute per tenant).')
@minValue(1)
param maxDownloadsPerTenant int = 16
param contentQueue string = 'o365-content'
param stateTablePrefix string = 'o365'
param outputContainer string = 'audit-ecs'
param geoipCityDb string = ''
param geoipAsnDb string = ''

@description('Memory of each instance, in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048
@description('Upper bound of instances the plan scales out to with queue length.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40
@description('Three listing periods, as an ISO 8601 duration, for the "listing stalled" alert.')
param stalledAfter string = 'PT15M'
param alertEmail string = ''
@description('Collection lag (cursor behind now) that raises an alert, in seconds.')
param lagThresholdSeconds int = 3600

var token = toLower(uniqueString(resourceGroup().id, namePrefix))
var tags = { application: 'audit-intake' }
var storageName = take('${namePrefix}${token}', 24)
var deploymentContainerName = 'app-package'
var clientSecretName = 'o365-client-secret'
var clientCertificateName = 'o365-client-certificate'

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: '${namePrefix}-id-${token}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: storageName
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    outputContainerName: outputContainer
    contentQueueName: contentQueue
    stateTablePrefix: stateTablePrefix
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: '${namePrefix}-log-${token}'
    appInsightsName: '${namePrefix}-appi-${token}'
    location: location
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyVault'
  params: {
    name: take('${namePrefix}kv${token}', 24)
    location: location
    tags: tags
    clientSecret: clientSecret
    clientSecretName: clientSecretName
    clientCertificatePem: clientCertificatePem
    clientCertificateName: clientCertificateName
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    outputContainerName: outputContainer
    appInsightsName: '${namePrefix}-appi-${token}'
    keyVaultName: keyVault.outputs.name
  }
  dependsOn: [
    monitoring
  ]
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionApp'
  params: {
    name: '${namePrefix}-func-${token}'
    planName: '${namePrefix}-plan-${token}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.connectionString
    keyVaultName: keyVault.outputs.name
    clientSecretName: clientSecretName
    clientCertificateName: clientCertificateName
    authMode: authMode
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    settings: {
      tenantIds: tenantIds
      tenantNames: tenantNames
      clientId: clientId
      cloud: cloud
      publisherId: publisherId
      contentTypes: contentTypes
      listSchedule: listSchedule
      initialLookback: initialLookback
      relistOverlap: relistOverlap
      listConcurrency: listConcurrency
      listBudget: listBudget
      requestTimeout: requestTimeout
      maxDownloadsPerTenant: maxDownloadsPerTenant
      contentQueue: contentQueue
      stateTablePrefix: stateTablePrefix
      outputContainer: outputContainer
      geoipCityDb: geoipCityDb
      geoipAsnDb: geoipAsnDb
    }
  }
  dependsOn: [
    roles
  ]
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    appInsightsId: monitoring.outputs.appInsightsId
    location: location
    tags: tags
    namePrefix: namePrefix
    stalledAfter: stalledAfter
    alertEmail: alertEmail
    lagThresholdSeconds: lagThresholdSeconds
  }
}

output functionAppName string = functionApp.outputs.name
@description('For authMode federated: add a federated credential with this subject (the identity\'s object id) to the app registration.')
output identityPrincipalId string = identity.outputs.principalId
output storageAccountName string = storage.outputs.name
output keyVaultName string = keyVault.outputs.name
