// The Function App on the Flex Consumption plan (Node 22), with identity-based connections only:
// the host's storage, the data account (work queue trigger, cursors, ledger, claims, output),
// Application Insights and Key Vault are all reached with the user-assigned managed identity.
// Its functions: one timer per feed (list-o365-audit, list-message-trace, list-sophos-xdr), processWork on
// WORK_QUEUE, status.
param name string
param planName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param storageBlobEndpoint string
param deploymentContainerName string
param appInsightsConnectionString string
param keyVaultName string
param clientSecretName string
param clientCertificateName string
@description('Key Vault secret of the Sophos Central API credential\'s client secret, referenced while the Sophos feed is on.')
param sophosClientSecretName string
@description('secret or certificate: read from Key Vault; federated: the managed identity is a federated credential of the app registration (no secret at all).')
@allowed(['secret', 'certificate', 'federated'])
param authMode string
@minValue(512)
param instanceMemoryMB int
@minValue(1)
param maximumInstanceCount int

@description('The app settings the code reads (shared/config/settings.ts), plus those the Functions host reads.')
param settings object

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
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

var appSettings = {
  // Functions host: its own storage and Application Insights, with the managed identity.
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // The data account: the queue trigger's "DataStorage" connection and the app's own clients.
  DataStorage__accountName: storageAccountName
  DataStorage__credential: 'managedidentity'
  DataStorage__clientId: identityClientId
  DataStorage__blobServiceUri: ''
  DataStorage__queueServiceUri: ''
  DataStorage__tableServiceUri: ''
  // The Entra app registration both Microsoft feeds authenticate as.
  O365_TENANT_IDS: settings.tenantIds
  O365_TENANT_NAMES: settings.tenantNames
  O365_CLIENT_ID: settings.clientId
  O365_CLIENT_SECRET: authMode == 'secret' ? '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${clientSecretName})' : ''
  O365_FEDERATED_IDENTITY_CLIENT_ID: authMode == 'federated' ? identityClientId : ''
  O365_CLIENT_CERTIFICATE_PATH: ''
  O365_CLIENT_CERTIFICATE: authMode == 'certificate' ? '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${clientCertificateName})' : ''
  O365_CLIENT_CERTIFICATE_PASSWORD: ''
  O365_CLOUD: settings.cloud
  O365_LOGIN_BASE_URL: ''
  // The audit feed (Management Activity API); its timer list-o365-audit reads O365_LIST_SCHEDULE.
  O365_AUDIT_ENABLED: settings.enableO365Audit ? 'true' : 'false'
  O365_API_BASE_URL: ''
  O365_PUBLISHER_ID: settings.publisherId
  O365_CONTENT_TYPES: settings.contentTypes
  O365_LIST_SCHEDULE: settings.listSchedule
  O365_INITIAL_LOOKBACK: settings.initialLookback
  O365_RELIST_OVERLAP: settings.relistOverlap
  // The message-trace feed (Graph); its timer list-message-trace reads MESSAGE_TRACE_SCHEDULE even while the feed is off.
  MESSAGE_TRACE_ENABLED: settings.enableMessageTrace ? 'true' : 'false'
  MESSAGE_TRACE_SCHEDULE: settings.messageTraceSchedule
  MESSAGE_TRACE_DELAY: settings.messageTraceDelay
  MESSAGE_TRACE_OVERLAP: settings.messageTraceOverlap
  MESSAGE_TRACE_INITIAL_LOOKBACK: settings.messageTraceInitialLookback
  MESSAGE_TRACE_WINDOW: settings.messageTraceWindow
  MESSAGE_TRACE_LOCAL_DOMAINS: settings.messageTraceLocalDomains
  MESSAGE_TRACE_GRAPH_BASE_URL: ''
  MESSAGE_TRACE_PAGE_SIZE: string(settings.messageTracePageSize)
  // The Sophos Central XDR feed (Data Lake IOC detections); its timer list-sophos-xdr reads SOPHOS_SCHEDULE even while the
  // feed is off. Its client secret is a Key Vault reference, as the Entra app's is; nothing to resolve while the feed is off.
  SOPHOS_ENABLED: settings.enableSophosXdr ? 'true' : 'false'
  SOPHOS_CLIENT_ID: settings.sophosClientId
  SOPHOS_CLIENT_SECRET: settings.enableSophosXdr ? '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${sophosClientSecretName})' : ''
  SOPHOS_TENANT_IDS: settings.sophosTenantIds
  SOPHOS_THRESHOLD: string(settings.sophosThreshold)
  SOPHOS_SCHEDULE: settings.sophosSchedule
  SOPHOS_DELAY: settings.sophosDelay
  SOPHOS_OVERLAP: settings.sophosOverlap
  SOPHOS_LOOKBACK: settings.sophosLookback
  SOPHOS_WINDOW: settings.sophosWindow
  SOPHOS_PAGE_SIZE: string(settings.sophosPageSize)
  SOPHOS_POLL_INTERVAL: settings.sophosPollInterval
  SOPHOS_MAX_RUN_WAIT: settings.sophosMaxRunWait
  SOPHOS_ID_BASE_URL: ''
  SOPHOS_API_BASE_URL: ''
  // The pipeline every feed runs through.
  LIST_CONCURRENCY: string(settings.listConcurrency)
  LIST_BUDGET: settings.listBudget
  REQUEST_TIMEOUT: settings.requestTimeout
  WORK_MAX_PER_TENANT: string(settings.maxWorkPerTenant)
  WORK_QUEUE: settings.workQueue
  STATE_TABLE_PREFIX: settings.stateTablePrefix
  OUTPUT_KIND: 'blob'
  OUTPUT_CONTAINER: settings.outputContainer
  OUTPUT_DIR: ''
  OUTPUT_NAMESPACE: settings.outputNamespace
  OUTPUT_GZIP_LEVEL: string(settings.outputGzipLevel)
  GEOIP_CITY_DB: settings.geoipCityDb
  GEOIP_ASN_DB: settings.geoipAsnDb
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }

  resource config 'config' = {
    name: 'appsettings'
    properties: appSettings
  }
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
