import { type Attributes, type Counter, type Histogram, type Meter, metrics } from "@opentelemetry/api";

/**
 * The collector's metrics, with `source` (the feed), `tenant` and `stream` dimensions: what an operator
 * charts and alerts on (lag by feed and tenant, throttling, failures). Instruments come from an OpenTelemetry meter:
 * the Azure Monitor distro's on Azure, an in-memory one in tests, a no-op one otherwise.
 */
/** Where a measurement comes from; `stream` is absent for requests that serve no one stream. */
export interface Dimensions {
  source: string;
  tenant: string;
  stream?: string | undefined;
}

export interface Telemetry {
  workListed(at: Dimensions, count: number): void;
  workEnqueued(at: Dimensions, count: number): void;
  workOutcome(at: Dimensions, outcome: "processed" | "failed" | "expired"): void;
  written(at: Dimensions, records: number, bytes: number): void;
  apiRequest(at: Dimensions, operation: string, throttled: boolean): void;
  /** Seconds behind now: of a work item's `created` when it is written, of the cursor after a listing. */
  lag(at: Dimensions, of: "work" | "cursor", seconds: number): void;
}

export const METRIC_NAMES = {
  listed: "audit_intake.work.listed",
  enqueued: "audit_intake.work.enqueued",
  processed: "audit_intake.work.processed",
  failed: "audit_intake.work.failed",
  expired: "audit_intake.work.expired",
  records: "audit_intake.records.written",
  bytes: "audit_intake.bytes.written",
  requests: "audit_intake.api.requests",
  throttled: "audit_intake.api.throttled",
  lag: "audit_intake.lag",
} as const;

export function createTelemetry(meter: Meter = metrics.getMeter("audit-intake")): Telemetry {
  const counter = (name: string, description: string, unit = "{item}"): Counter => meter.createCounter(name, { description, unit });
  const listed = counter(METRIC_NAMES.listed, "work items listed (content blobs, time windows)", "{item}");
  const enqueued = counter(METRIC_NAMES.enqueued, "work items enqueued (new to the ledger)", "{item}");
  const outcomes = {
    processed: counter(METRIC_NAMES.processed, "work items written", "{item}"),
    failed: counter(METRIC_NAMES.failed, "work items that failed for good (unparsable content is kept raw under failed/)", "{item}"),
    expired: counter(METRIC_NAMES.expired, "work items that expired before they were fetched: records lost at the source", "{item}"),
  };
  const records = counter(METRIC_NAMES.records, "ECS documents written", "{record}");
  const bytes = counter(METRIC_NAMES.bytes, "compressed bytes written", "By");
  const requests = counter(METRIC_NAMES.requests, "requests to the feeds' APIs", "{request}");
  const throttled = counter(METRIC_NAMES.throttled, "requests to the feeds' APIs that were throttled (429, AF429)", "{request}");
  const lag: Histogram = meter.createHistogram(METRIC_NAMES.lag, { description: "how far collection is behind now", unit: "s" });
  const dims = ({ source, tenant, stream }: Dimensions): Attributes => (stream === undefined ? { source, tenant } : { source, tenant, stream });
  return {
    workListed: (at, count) => listed.add(count, dims(at)),
    workEnqueued: (at, count) => enqueued.add(count, dims(at)),
    workOutcome: (at, outcome) => outcomes[outcome].add(1, dims(at)),
    written: (at, recordCount, byteCount) => {
      records.add(recordCount, dims(at));
      bytes.add(byteCount, dims(at));
    },
    apiRequest: (at, operation, wasThrottled) => {
      const attributes: Attributes = { ...dims(at), operation };
      requests.add(1, attributes);
      if (wasThrottled) throttled.add(1, attributes);
    },
    lag: (at, of, seconds) => lag.record(Math.max(0, seconds), { ...dims(at), of }),
  };
}
