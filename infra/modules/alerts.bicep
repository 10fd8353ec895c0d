// Alert rules on Application Insights: a message moved to the poison queue, collection lag above a
// threshold for any tenant and content type, function failures, and the listing timer not having run
// for three schedule periods.
param appInsightsId string
param location string
param tags object
param namePrefix string
@description('ISO 8601 duration of three listing periods: the timer is "stalled" after this long without a run.')
param stalledAfter string
@description('E-mail address for alert notifications; no action group when empty.')
param alertEmail string
@description('Alert when a cursor is further than this many seconds behind now, for any tenant and content type.')
param lagThresholdSeconds int

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${namePrefix}-alerts'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: take(namePrefix, 12)
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var actions = empty(alertEmail) ? [] : [actionGroup.id]

var rules = [
  {
    name: 'poison-queue'
    description: 'A content message was moved to the poison queue after maxDequeueCount failures.'
    query: 'traces | where message has "Moving message to queue" and message has "-poison"'
    operator: 'GreaterThan'
    threshold: 0
    window: 'PT15M'
    severity: 2
  }
  {
    name: 'collection-lag'
    description: 'A tenant and content type is collected more than ${lagThresholdSeconds} s behind now.'
    query: 'customMetrics | where name == "audit_intake.lag" and tostring(customDimensions.of) == "cursor" | summarize lag = max(valueMax) by tenant = tostring(customDimensions.tenant), contentType = tostring(customDimensions.contentType) | where lag > ${lagThresholdSeconds}'
    operator: 'GreaterThan'
    threshold: 0
    window: 'PT15M'
    severity: 2
  }
  {
    name: 'function-failures'
    description: 'A function invocation failed.'
    query: 'requests | where success == false'
    operator: 'GreaterThan'
    threshold: 0
    window: 'PT15M'
    severity: 2
  }
  {
    name: 'listing-stalled'
    description: 'The listing timer has not run for three schedule periods.'
    query: 'requests | where name == "listContent"'
    operator: 'LessThan'
    threshold: 1
    window: stalledAfter
    severity: 1
  }
]

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = [for rule in rules: {
  name: '${namePrefix}-${rule.name}'
  location: location
  tags: tags
  properties: {
    displayName: '${namePrefix}: ${rule.name}'
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: rule.window
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Count'
          operator: rule.operator
          threshold: rule.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: actions
    }
  }
}]
