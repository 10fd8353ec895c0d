import { parseAddress } from "./address.js";
import { recordTypeName } from "./recordTypes.js";

/**
 * normalize(record, context) turns one raw Management Activity API record into one ECS document.
 * It never throws: a record it cannot map becomes an `event.kind: pipeline_error` document that
 * keeps the original, so nothing is dropped on the way to the index.
 */
export interface NormalizeContext {
  /** Tenant id → domain, for organization.name / host.name (Elastic's "tenant domains"). */
  tenantNames: ReadonlyMap<string, string>;
  /** Keep the raw record as `event.original` (Elastic's preserve_original_event). */
  preserveOriginal: boolean;
  /** Ingest time, for records that carry no CreationTime. */
  now: () => number;
  /** The record's text as received, kept verbatim as event.original when preserveOriginal is on. */
  originalText?: string;
}

export type EcsDocument = Record<string, unknown>;

export const ECS_VERSION = "8.11.0";

const OUTCOMES: Readonly<Record<string, "success" | "failure">> = {
  succeeded: "success",
  success: "success",
  partiallysucceeded: "success",
  true: "success",
  failed: "failure",
  failure: "failure",
  false: "failure",
};

type AuditRecord = Record<string, unknown>;

export function normalize(record: unknown, context: NormalizeContext): EcsDocument {
  try {
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      return pipelineErrorDocument(record, `record is ${Array.isArray(record) ? "an array" : record === null ? "null" : `a ${typeof record}`}, not an object`, context);
    }
    return mapRecord(record as AuditRecord, context);
  } catch (error) {
    return pipelineErrorDocument(record, error instanceof Error ? error.message : String(error), context);
  }
}

function mapRecord(record: AuditRecord, context: NormalizeContext): EcsDocument {
  const operation = record.Operation;
  if (operation !== undefined && typeof operation !== "string") {
    return pipelineErrorDocument(record, `Operation is a ${typeof operation}, not a string`, context);
  }
  const organizationId = text(record.OrganizationId)?.toLowerCase();
  const source = parseAddress(record.ClientIP ?? record.ActorIpAddress ?? record.ClientIPAddress);
  const userId = text(record.UserId);
  const outcome = OUTCOMES[text(record.ResultStatus)?.toLowerCase() ?? ""];
  const tenantName = organizationId ? context.tenantNames.get(organizationId) : undefined;

  const event: EcsDocument = {
    kind: "event",
    ...(text(record.Id) ? { id: text(record.Id) } : {}),
    ...(operation ? { action: operation } : {}),
    ...(recordTypeName(record.RecordType) ? { code: recordTypeName(record.RecordType) } : {}),
    ...(text(record.Workload) ? { provider: text(record.Workload) } : {}),
    ...(outcome ? { outcome } : {}),
    ...(context.preserveOriginal ? { original: context.originalText ?? JSON.stringify(record) } : {}),
  };
  return {
    "@timestamp": timestamp(record.CreationTime) ?? new Date(context.now()).toISOString(),
    ecs: { version: ECS_VERSION },
    event,
    // Elastic's o365 integration names the tenant as both organization and host.
    ...(organizationId ? { organization: { id: organizationId, ...(tenantName ? { name: tenantName } : {}) } } : {}),
    ...(organizationId ? { host: { id: organizationId, ...(tenantName ? { name: tenantName } : {}) } } : {}),
    ...(userId ? { user: { id: userId } } : {}),
    ...(source ? { source: { ...(source.ip ? { ip: source.ip } : {}), ...(source.port ? { port: source.port } : {}) }, client: source } : {}),
    ...(source?.ip || userId ? { related: { ...(source?.ip ? { ip: [source.ip] } : {}), ...(userId ? { user: [userId] } : {}) } } : {}),
    o365: { audit: record },
  };
}

/** CreationTime is UTC without a zone designator ("2022-04-01T00:00:01"). */
function timestamp(value: unknown): string | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  const withZone = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(value) ? value : `${value}Z`;
  const ms = Date.parse(withZone);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function text(value: unknown): string | undefined {
  if (typeof value === "string") return value === "" ? undefined : value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

/** The document for input that cannot be mapped: the original kept, the reason in error.message. */
export function pipelineErrorDocument(record: unknown, message: string, context: NormalizeContext): EcsDocument {
  let original: string;
  try {
    original = typeof record === "string" ? record : JSON.stringify(record) ?? String(record);
  } catch {
    original = String(record);
  }
  return {
    "@timestamp": new Date(context.now()).toISOString(),
    ecs: { version: ECS_VERSION },
    event: { kind: "pipeline_error", original },
    error: { message },
  };
}
