// Alert rules on Application Insights, split by feed (`customDimensions.source` of the metrics, `source`
// of the app's log lines) where the feed matters: work moved to the poison queue, work failed or expired,
// collection lag above a threshold for any feed and tenant, a feed's API throttling most requests, function
// failures, an enabled feed's listing timer not having run for three schedule periods, and a feed that
// finds its tenants through its API (Sophos) unable to find them.
param appInsightsId string
param location string
param tags object
param namePrefix string
@description('ISO 8601 duration of three listing periods of the slowest enabled feed: a timer is "stalled" after this long without a run.')
param stalledAfter string
@description('E-mail address for alert notifications; no action group when empty.')
param alertEmail string
@description('Alert when a cursor is further than this many seconds behind now, for any feed and tenant.')
param lagThresholdSeconds int
@description('Alert when more than this percentage of a feed\'s API requests in an hour were throttled.')
param throttledPercentThreshold int
@description('The feeds switched on: only their timers are expected to run.')
param enableO365Audit bool
param enableMessageTrace bool
param enableSophosXdr bool

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

// functions/list.ts registers one timer per feed, named list-<feed>; a disabled feed's timer runs but lists nothing.
var listTimers = concat(enableO365Audit ? ['list-o365-audit'] : [], enableMessageTrace ? ['list-message-trace'] : [], enableSophosXdr ? ['list-sophos-xdr'] : [])

// The app's log lines end with their properties as JSON ({"source":…,"tenantId":…,"stream":…,"workId":…}).
var logSource = 'tostring(parse_json(substring(message, indexof(message, "{"))).source)'

// One alert per value of each dimension (a feed, a feed and tenant), rather than one for all.
var bySource = [
  {
    name: 'source'
    operator: 'Include'
    values: ['*']
  }
]

var rules = [
  {
    name: 'poison-queue'
    description: 'Work of a feed was moved to <WORK_QUEUE>-poison after maxDequeueCount failures (its ledger row says poisoned; re-drive it once the cause is fixed).'
    query: 'traces | where message contains "work poisoned: its message goes to the poison queue" or message contains "could not mark the ledger row poisoned" | summarize poisoned = count() by source = ${logSource}'
    operator: 'GreaterThan'
    threshold: 0
    window: 'PT15M'
    severity: 2
    dimensions: bySource
  }
  {
    name: 'work-failed'
    description: 'Work of a feed failed for good (unparsable content, kept under failed/) or expired before it was fetched (records lost at the source).'
    query: 'customMetrics | where name in ("audit_intake.work.failed", "audit_intake.work.expired") | summarize items = sum(valueSum) by source = tostring(customDimensions.source), outcome = name | where items > 0'
    operator: 'GreaterThan'
    threshold: 0
    window: 'PT15M'
    severity: 2
    dimensions: bySource
  }
  {
    name: 'collection-lag'
    description: 'A feed\'s cursor for a tenant is more than ${lagThresholdSeconds} s behind now.'
    query: 'customMetrics | where name == "audit_intake.lag" and tostring(customDimensions.of) == "cursor" | summarize lag = max(valueMax) by source = tostring(customDimensions.source), tenant = tostring(customDimensions.tenant) | where lag > ${lagThresholdSeconds}'
    operator: 'GreaterThan'
    threshold: 0
    window: 'PT15M'
    severity: 2
    dimensions: [
      bySource[0]
      {
        name: 'tenant'
        operator: 'Include'
        values: ['*']
      }
    ]
  }
  {
    name: 'api-throttling'
    description: 'More than ${throttledPercentThreshold}% of a feed\'s API requests in the last hour were throttled (the pipeline waits them out; sustained, lower WORK_MAX_PER_TENANT or look for another client on the same quota).'
    query: 'customMetrics | where name in ("audit_intake.api.requests", "audit_intake.api.throttled") | summarize requests = sumif(valueSum, name == "audit_intake.api.requests"), throttled = sumif(valueSum, name == "audit_intake.api.throttled") by source = tostring(customDimensions.source) | where requests > 0 and throttled * 100 > requests * ${throttledPercentThreshold}'
    operator: 'GreaterThan'
    threshold: 0
    window: 'PT1H'
    severity: 3
    dimensions: bySource
  }
  {
    // A feed that finds its tenants through its API (Sophos: whoami and a partner's or organization's tenant list) and
    // cannot lists none of them: no cursor moves, so no lag is measured and collection-lag stays silent. The lister
    // logs it once per process and cause.
    name: 'tenants-not-found'
    description: 'A feed could not find its tenants (Sophos Central refused the API credential or its tenant list), so none of them is collected; the log line carries the fix.'
    query: 'traces | where message contains "tenants could not be found; none of them is listed" | summarize failures = count() by source = ${logSource}'
    operator: 'GreaterThan'
    threshold: 0
    window: 'PT15M'
    severity: 1
    dimensions: bySource
  }
  {
    name: 'function-failures'
    description: 'A function invocation failed (list-o365-audit, list-message-trace, list-sophos-xdr, processWork, status).'
    query: 'requests | where success == false | summarize failures = count() by function = name'
    operator: 'GreaterThan'
    threshold: 0
    window: 'PT15M'
    severity: 2
    dimensions: [
      {
        name: 'function'
        operator: 'Include'
        values: ['*']
      }
    ]
  }
  {
    name: 'listing-stalled'
    description: 'The listing timer of an enabled feed (${join(listTimers, ', ')}) has not run for three schedule periods.'
    query: 'print timer = dynamic(${string(listTimers)}) | mv-expand timer to typeof(string) | join kind=leftanti (requests | summarize by timer = name) on timer'
    operator: 'GreaterThan'
    threshold: 0
    window: stalledAfter
    severity: 1
    dimensions: [
      {
        name: 'timer'
        operator: 'Include'
        values: ['*']
      }
    ]
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
          dimensions: rule.dimensions
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
