// audit-intake on Azure: a Flex Consumption Function App that collects security logs from several
// feeds (Microsoft 365 audit logs; Exchange Online message trace and Sophos Central XDR Data Lake IOC
// detections, off unless enabled) with a user-assigned managed identity and no storage keys.
// Deploy: az deployment group create -g <rg> -f infra/main.bicep -p infra/main.parameters.json -p clientSecret=<secret>
// (with Sophos: -p enableSophosXdr=true sophosClientId=<client id> sophosClientSecret=<secret>)
targetScope = 'resourceGroup'

@description('Short prefix for resource names (letters and digits).')
@minLength(3)
@maxLength(11)
param namePrefix string = 'auditintake'
param location string = resourceGroup().location

// The Entra app registration both Microsoft feeds authenticate as (O365_* settings).
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
@description('Microsoft cloud of the tenants. Message trace exists in the global service only (commercial, gcc): the app refuses to start with enableMessageTrace in gcc-high or dod.')
@allowed(['commercial', 'gcc', 'gcc-high', 'dod'])
param cloud string = 'commercial'

// The audit feed (Office 365 Management Activity API).
@description('Collect Microsoft 365 audit logs (O365_AUDIT_ENABLED).')
param enableO365Audit bool = true
param publisherId string = ''
param contentTypes string = 'Audit.AzureActiveDirectory,Audit.Exchange,Audit.SharePoint,Audit.General,DLP.All'
@description('NCRONTAB of the audit feed\'s timer (list-o365-audit).')
param listSchedule string = '0 */5 * * * *'
param initialLookback string = '6d23h55m'
param relistOverlap string = '1h'

// The message-trace feed (Microsoft Graph). Needs the Graph application permission ExchangeMessageTrace.Read.All
// and, in each tenant, the service principal of Microsoft's app 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 (README).
@description('Collect Exchange Online message trace from Microsoft Graph (MESSAGE_TRACE_ENABLED).')
param enableMessageTrace bool = false
@description('The organization\'s own mail domains, comma-separated, for email.direction and user.* (MESSAGE_TRACE_LOCAL_DOMAINS); each tenant\'s tenantNames domain counts too.')
param messageTraceLocalDomains string = ''
@description('NCRONTAB of the message-trace feed\'s timer (list-message-trace); set even while the feed is off, as the timer exists either way.')
param messageTraceSchedule string = '0 */5 * * * *'
@description('Windows end this far behind now (Graph lists a message a few minutes after it was received).')
param messageTraceDelay string = '5m'
@description('How far behind the cursor each listing reads again.')
param messageTraceOverlap string = '1h'
@description('How far back the first listing of a tenant reaches (at most 90d).')
param messageTraceInitialLookback string = '1d'
@description('The longest window of one work item (at most 10d).')
param messageTraceWindow string = '1h'
@description('Rows per Graph page ($top, at most 5000).')
@minValue(1)
@maxValue(5000)
param messageTracePageSize int = 5000

// The Sophos Central XDR feed (Data Lake IOC detections). Needs a Sophos Central API credential of a tenant, a
// partner or an enterprise organization (README); its secret is kept in Key Vault like the Entra app's.
@description('Collect Sophos Central XDR Data Lake IOC detections (SOPHOS_ENABLED).')
param enableSophosXdr bool = false
@description('Client ID of the Sophos Central API credential (SOPHOS_CLIENT_ID); required while enableSophosXdr is true.')
param sophosClientId string = ''
@secure()
@description('Client secret of the Sophos Central API credential, stored in Key Vault and read through a Key Vault reference (SOPHOS_CLIENT_SECRET). May be empty while the feed is off, or on a redeployment once the vault holds it.')
param sophosClientSecret string = ''
@description('Only these Sophos tenant ids, comma-separated, of a partner or organization credential (SOPHOS_TENANT_IDS); empty: every tenant it manages.')
param sophosTenantIds string = ''
@description('IOC detections above this weight (0 to 10) are collected (SOPHOS_THRESHOLD).')
@minValue(0)
@maxValue(10)
param sophosThreshold int = 3
@description('NCRONTAB of the Sophos feed\'s timer (list-sophos-xdr); set even while the feed is off, as the timer exists either way.')
param sophosSchedule string = '0 */5 * * * *'
@description('Windows end this far behind now (the Data Lake ingests detections with a lag).')
param sophosDelay string = '5m'
@description('How far behind the cursor each listing reads again.')
param sophosOverlap string = '30m'
@description('How far back a tenant\'s first run reaches, and the furthest back any window starts (the Data Lake keeps 30 days; at most 90d).')
param sophosLookback string = '30d'
@description('The longest window of one query run (1 minute to 7d).')
param sophosWindow string = '1d'
@description('Rows per results page (at most 2000).')
@minValue(1)
@maxValue(2000)
param sophosPageSize int = 2000
@description('Between two polls of a running query (the message waits on the queue meanwhile).')
param sophosPollInterval string = '20s'
@description('A query run not finished after this long is submitted again (1 minute to 110 minutes; Sophos expires runs after about two hours).')
param sophosMaxRunWait string = '30m'

// The pipeline.
param listConcurrency int = 16
param listBudget string = '4m'
param requestTimeout string = '60s'
@description('Work items of one tenant of one feed at once, per instance (WORK_MAX_PER_TENANT); past it a message goes back on the queue for a few seconds.')
@minValue(1)
param maxWorkPerTenant int = 16
@description('The work queue of every feed (WORK_QUEUE); failures go to <name>-poison.')
param workQueue string = 'intake-work'
param stateTablePrefix string = 'intake'
param outputContainer string = 'intake-ecs'
@description('data_stream.namespace of every document (OUTPUT_NAMESPACE): lowercase letters, digits and underscores.')
param outputNamespace string = 'default'
@description('gzip level of the output (OUTPUT_GZIP_LEVEL), 1-9: on a one-core instance (2,048 MB) level 3 or 1 moved 8-18% or 12-19% more records a second for 18% or 30% more output bytes; see the README\'s Benchmarks.')
@minValue(1)
@maxValue(9)
param outputGzipLevel int = 5
param geoipCityDb string = ''
param geoipAsnDb string = ''

@description('Memory of each instance, in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048
@description('Upper bound of instances the plan scales out to with queue length.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40
@description('Three periods of the slowest enabled feed\'s schedule, as an ISO 8601 duration, for the "listing stalled" alert.')
param stalledAfter string = 'PT15M'
param alertEmail string = ''
@description('Collection lag (a cursor behind now) that raises an alert, per feed and tenant, in seconds.')
param lagThresholdSeconds int = 3600
@description('Share of a feed\'s API requests answered "throttled" over an hour that raises an alert, in percent.')
@minValue(1)
@maxValue(100)
param throttledPercentThreshold int = 20

var token = toLower(uniqueString(resourceGroup().id, namePrefix))
var tags = { application: 'audit-intake' }
var storageName = take('${namePrefix}${token}', 24)
var deploymentContainerName = 'app-package'
var clientSecretName = 'o365-client-secret'
var clientCertificateName = 'o365-client-certificate'
var sophosClientSecretName = 'sophos-client-secret'

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
    workQueueName: workQueue
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
    sophosClientSecret: sophosClientSecret
    sophosClientSecretName: sophosClientSecretName
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
    sophosClientSecretName: sophosClientSecretName
    authMode: authMode
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    settings: {
      tenantIds: tenantIds
      tenantNames: tenantNames
      clientId: clientId
      cloud: cloud
      enableO365Audit: enableO365Audit
      publisherId: publisherId
      contentTypes: contentTypes
      listSchedule: listSchedule
      initialLookback: initialLookback
      relistOverlap: relistOverlap
      enableMessageTrace: enableMessageTrace
      messageTraceSchedule: messageTraceSchedule
      messageTraceDelay: messageTraceDelay
      messageTraceOverlap: messageTraceOverlap
      messageTraceInitialLookback: messageTraceInitialLookback
      messageTraceWindow: messageTraceWindow
      messageTraceLocalDomains: messageTraceLocalDomains
      messageTracePageSize: messageTracePageSize
      enableSophosXdr: enableSophosXdr
      sophosClientId: sophosClientId
      sophosTenantIds: sophosTenantIds
      sophosThreshold: sophosThreshold
      sophosSchedule: sophosSchedule
      sophosDelay: sophosDelay
      sophosOverlap: sophosOverlap
      sophosLookback: sophosLookback
      sophosWindow: sophosWindow
      sophosPageSize: sophosPageSize
      sophosPollInterval: sophosPollInterval
      sophosMaxRunWait: sophosMaxRunWait
      listConcurrency: listConcurrency
      listBudget: listBudget
      requestTimeout: requestTimeout
      maxWorkPerTenant: maxWorkPerTenant
      workQueue: workQueue
      stateTablePrefix: stateTablePrefix
      outputContainer: outputContainer
      outputNamespace: outputNamespace
      outputGzipLevel: outputGzipLevel
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
    throttledPercentThreshold: throttledPercentThreshold
    enableO365Audit: enableO365Audit
    enableMessageTrace: enableMessageTrace
    enableSophosXdr: enableSophosXdr
  }
}

output functionAppName string = functionApp.outputs.name
@description('For authMode federated: add a federated credential with this subject (the identity\'s object id) to the app registration.')
output identityPrincipalId string = identity.outputs.principalId
output storageAccountName string = storage.outputs.name
output keyVaultName string = keyVault.outputs.name
