import { type Attributes, type Counter, type Histogram, type Meter, metrics } from "@opentelemetry/api";

/**
 * The collector's metrics, with `tenant` and `contentType` dimensions: what an operator charts and
 * alerts on (lag by tenant, throttling, failures). Instruments come from an OpenTelemetry meter:
 * the Azure Monitor distro's on Azure, an in-memory one in tests, a no-op one otherwise.
 */
export interface Telemetry {
  contentListed(tenant: string, contentType: string, count: number): void;
  contentEnqueued(tenant: string, contentType: string, count: number): void;
  contentOutcome(tenant: string, contentType: string, outcome: "processed" | "failed" | "expired"): void;
  written(tenant: string, contentType: string, records: number, bytes: number): void;
  apiRequest(tenant: string, contentType: string | undefined, operation: string, throttled: boolean): void;
  /** Seconds behind now: of a blob's contentCreated when it is written, of the cursor after a listing. */
  lag(tenant: string, contentType: string, of: "content" | "cursor", seconds: number): void;
}

export const METRIC_NAMES = {
  listed: "audit_intake.content.listed",
  enqueued: "audit_intake.content.enqueued",
  processed: "audit_intake.content.processed",
  failed: "audit_intake.content.failed",
  expired: "audit_intake.content.expired",
  records: "audit_intake.records.written",
  bytes: "audit_intake.bytes.written",
  requests: "audit_intake.api.requests",
  throttled: "audit_intake.api.throttled",
  lag: "audit_intake.lag",
} as const;

export function createTelemetry(meter: Meter = metrics.getMeter("audit-intake")): Telemetry {
  const counter = (name: string, description: string, unit = "{item}"): Counter => meter.createCounter(name, { description, unit });
  const listed = counter(METRIC_NAMES.listed, "content blobs listed", "{blob}");
  const enqueued = counter(METRIC_NAMES.enqueued, "content blobs enqueued (new to the ledger)", "{blob}");
  const outcomes = {
    processed: counter(METRIC_NAMES.processed, "content blobs written", "{blob}"),
    failed: counter(METRIC_NAMES.failed, "content blobs that could not be parsed (kept raw under failed/)", "{blob}"),
    expired: counter(METRIC_NAMES.expired, "content blobs that expired before download: records lost at the source", "{blob}"),
  };
  const records = counter(METRIC_NAMES.records, "ECS documents written", "{record}");
  const bytes = counter(METRIC_NAMES.bytes, "compressed bytes written", "By");
  const requests = counter(METRIC_NAMES.requests, "Management Activity API requests", "{request}");
  const throttled = counter(METRIC_NAMES.throttled, "Management Activity API requests throttled (AF429, 429)", "{request}");
  const lag: Histogram = meter.createHistogram(METRIC_NAMES.lag, { description: "how far collection is behind now", unit: "s" });
  const dims = (tenant: string, contentType: string): Attributes => ({ tenant, contentType });
  return {
    contentListed: (tenant, contentType, count) => listed.add(count, dims(tenant, contentType)),
    contentEnqueued: (tenant, contentType, count) => enqueued.add(count, dims(tenant, contentType)),
    contentOutcome: (tenant, contentType, outcome) => outcomes[outcome].add(1, dims(tenant, contentType)),
    written: (tenant, contentType, recordCount, byteCount) => {
      records.add(recordCount, dims(tenant, contentType));
      bytes.add(byteCount, dims(tenant, contentType));
    },
    apiRequest: (tenant, contentType, operation, wasThrottled) => {
      const attributes: Attributes = contentType ? { tenant, contentType, operation } : { tenant, operation };
      requests.add(1, attributes);
      if (wasThrottled) throttled.add(1, attributes);
    },
    lag: (tenant, contentType, of, seconds) => lag.record(Math.max(0, seconds), { ...dims(tenant, contentType), of }),
  };
}
