import { isIP } from "node:net";
import { splitEmail } from "../../ecs/address.js";
import { isoTimestamp } from "../../ecs/dates.js";
import { appendPath, defineKey, type Doc, getPath, isMap, setPath } from "../../ecs/doc.js";
import type { GeoLookup } from "../../ecs/geoip.js";
import { documentLine, ECS_VERSION, type EcsDocument, pipelineErrorDocument, PRESERVE_ORIGINAL_TAG } from "../../ecs/document.js";
import { domainParts } from "../../ecs/url.js";
import { COPIES, DATE_FIELDS, DATES, DEFAULT_OUTCOME, DIRECTIONS, ENDS, FIELD_TYPES, GRAPH_FIELDS, GRAPH_STATUSES, OUTCOMES, type Side, USER_SIDES } from "./fields.js";

/**
 * normalizeMessageTrace(row, context) turns one Exchange Online message-trace row (one message × one
 * recipient) into the document Elastic's `microsoft_exchange_online_message_trace` integration writes
 * for it (ECS 8.11), whether the row is a Graph `exchangeMessageTrace` item or a legacy Reporting Web
 * Service row. It never throws: a row it cannot map is written as `event.kind: pipeline_error` with
 * the original, and a row with one unreadable field keeps the rest of its mapping and is flagged so.
 */
export interface MessageTraceContext {
  /** The organization's own mail domains; email.direction and user.* need them (none: neither is written). */
  localDomains: readonly string[];
  /** data_stream.namespace (default `default`). */
  namespace?: string;
  /** Ingest time, for rows whose time cannot be read. */
  now: () => number;
  /** Keep the raw row as `event.original` (Elastic's preserve_original_event). */
  preserveOriginal: boolean;
  /** The row's text as received, kept verbatim as event.original. */
  originalText?: string;
  /** GeoIP and ASN lookups for source.ip and destination.ip. */
  geoip?: GeoLookup;
}

/** The data stream Elastic's integration writes to; Elastic Agent stamps it on every event, so do we. */
export const MESSAGE_TRACE_DATASET = "microsoft_exchange_online_message_trace.log";

const ECS = Object.freeze({ version: ECS_VERSION });

/**
 * The rows of a saved response or export: `{"d":{"results":[…]}}` (Reporting Web Service, verbose
 * OData), `{"value":[…]}` (Reporting Web Service JSON light, and a Graph page), a bare array, or one row.
 * An empty page gives no rows, as Elastic drops `{"value":[]}`.
 */
export function messageTraceRows(json: unknown): unknown[] {
  if (Array.isArray(json)) return json;
  return (isMap(json) && envelopeRows(json)) || [json];
}

function envelopeRows(json: Doc): unknown[] | undefined {
  if (Array.isArray(json.value)) return json.value;
  if (isMap(json.d) && Array.isArray(json.d.results)) return json.d.results;
  return undefined;
}

export function normalizeMessageTrace(row: unknown, context: MessageTraceContext): EcsDocument {
  try {
    if (!isMap(row)) return messageTracePipelineError(row, `row is ${describeType(row)}, not an object`, context);
    if (envelopeRows(row)) return messageTracePipelineError(row, "a page of rows, not a row: unwrap it with messageTraceRows", context);
    return mapRow(row, context);
  } catch (error) {
    return messageTracePipelineError(row, error instanceof Error ? error.message : String(error), context);
  }
}

/** normalizeMessageTrace() and JSON in one step: one NDJSON line, size-checked as the audit feed's are. */
export function normalizeMessageTraceToLine(row: unknown, context: MessageTraceContext): { line: string; pipelineError: boolean } {
  return documentLine(row, context, normalizeMessageTrace, messageTracePipelineError);
}

/** The audit feed's pipeline_error document, in this feed's data stream. */
export function messageTracePipelineError(original: unknown, message: string, context: MessageTraceContext): EcsDocument {
  const doc = pipelineErrorDocument(original, message, context);
  return { ...doc, event: { ...(doc.event as Doc), dataset: MESSAGE_TRACE_DATASET }, data_stream: dataStream(context) };
}

function dataStream(context: MessageTraceContext): Doc {
  return { type: "logs", dataset: MESSAGE_TRACE_DATASET, namespace: context.namespace ?? "default" };
}

/** One party of the message, as user.* takes it. */
interface Identity {
  email: string;
  name: string | undefined;
}

function mapRow(row: Doc, context: MessageTraceContext): EcsDocument {
  const errors: string[] = [];
  const trace = traceFields(row, errors);

  const event: Doc = { dataset: MESSAGE_TRACE_DATASET };
  const doc: Doc = { "@timestamp": new Date(context.now()).toISOString(), ecs: ECS, event, data_stream: dataStream(context) };
  for (const [from, to] of DATES) {
    const at = typeof trace[from] === "string" ? isoTimestamp(trace[from]) : undefined;
    if (at !== undefined) setPath(doc, to, at);
  }
  event.outcome = own(OUTCOMES, typeof trace.Status === "string" ? trace.Status.toLowerCase() : "") ?? DEFAULT_OUTCOME;
  if (context.preserveOriginal) {
    event.original = context.originalText ?? JSON.stringify(row);
    doc.tags = [PRESERVE_ORIGINAL_TAG];
  }
  for (const [from, to] of COPIES) if (trace[from] !== undefined) setPath(doc, to, trace[from]);

  const identities: Partial<Record<Side, Identity>> = {};
  for (const end of ENDS) {
    const address = trace[end.address];
    if (typeof address === "string") identities[end.side] = mapParty(doc, end.side, end.list, address);
    const ip = trace[end.ip];
    if (typeof ip === "string") {
      // Elastic's geoip processor fails the event on a value that is not an address.
      if (isIP(ip) === 0) errors.push(`${end.ip} "${ip}" is not an IP address`);
      else mapIp(doc, end.side, ip, context.geoip);
    }
  }
  for (const value of [trace.RecipientAddress, trace.SenderAddress, identities.destination?.name, identities.source?.name]) {
    if (typeof value === "string" && value !== "") appendPath(doc, "related.user", value, false);
  }
  mapDirection(doc, identities, context.localDomains);
  if (Object.keys(trace).length > 0) doc.microsoft = { online_message_trace: trace };

  if (errors.length > 0) {
    // Mapped, but something in it could not be read: flagged as Elastic flags it, original kept.
    event.kind = "pipeline_error";
    event.original ??= context.originalText ?? JSON.stringify(row);
    doc.error = { message: errors };
    doc.tags = [PRESERVE_ORIGINAL_TAG];
  }
  return doc;
}

/**
 * The row under the legacy column names, as Elastic keeps it under microsoft.online_message_trace:
 * Graph names and status values translated, `/Date(ms)/` as ISO 8601, empty values dropped (Elastic's
 * last script drops null and "" everywhere). A value of the wrong type or a date that is none is left
 * out (the index would refuse the document) and reported, as is a row without its time (Elastic's date
 * processor fails on it).
 */
function traceFields(row: Doc, errors: string[]): Doc {
  const trace: Doc = {};
  const refused = new Set<string>();
  for (const [key, raw] of Object.entries(row)) {
    let value = withoutEmpty(raw);
    if (value === undefined) continue;
    const graphName = own(GRAPH_FIELDS, key);
    const name = graphName ?? key;
    if (graphName === "Status" && typeof value === "string") value = own(GRAPH_STATUSES, value) ?? value;
    const type = own(FIELD_TYPES, name);
    if (type !== undefined && typeof value !== type) {
      errors.push(`${key} is ${describeType(value)}, not a ${type}`);
      refused.add(name);
      continue;
    }
    if ((DATE_FIELDS as readonly string[]).includes(name)) {
      const text = value as string;
      const legacy = legacyDate(text);
      if (legacy === undefined && isoTimestamp(text) === undefined) {
        errors.push(`${key} "${text}" is not a date`);
        refused.add(name);
        continue;
      }
      // ISO text is kept as written, as Elastic keeps it; only the legacy form is rewritten.
      value = legacy ?? text;
    }
    defineKey(trace, name, value);
  }
  if (trace.Received === undefined && !refused.has("Received")) errors.push("the row has no Received (Graph: receivedDateTime) time");
  return trace;
}

/** The Reporting Web Service's verbose-OData date, `/Date(1658751973240)/`, with an optional `+hhmm` that does not move the instant. */
const LEGACY_DATE = /^\/Date\((-?\d{1,15})(?:[+-]\d{4})?\)\/$/;

function legacyDate(text: string): string | undefined {
  const found = LEGACY_DATE.exec(text);
  if (!found) return undefined;
  const at = new Date(Number(found[1]));
  return Number.isNaN(at.getTime()) ? undefined : at.toISOString();
}

/** One address: the e-mail list, `<side>.user.*`, `<side>.domain` and its registered-domain parts. */
function mapParty(doc: Doc, side: Side, list: string, address: string): Identity {
  appendPath(doc, list, address);
  setPath(doc, [side, "user", "id"], address);
  setPath(doc, [side, "user", "email"], address);
  const parts = splitEmail(address);
  if (!parts) return { email: address, name: undefined };
  if (parts.domain !== "") {
    Object.assign(getPath(doc, side) as Doc, { domain: parts.domain }, domainParts(parts.domain));
    setPath(doc, [side, "user", "domain"], parts.domain);
  }
  if (parts.name !== "") setPath(doc, [side, "user", "name"], parts.name);
  return { email: address, name: parts.name === "" ? undefined : parts.name };
}

function mapIp(doc: Doc, side: Side, ip: string, geoip: GeoLookup | undefined): void {
  setPath(doc, [side, "ip"], ip);
  if (!geoip) return;
  const { geo, as } = geoip.lookup(ip);
  if (geo) setPath(doc, [side, "geo"], geo);
  if (as) setPath(doc, [side, "as"], as);
}

/**
 * email.direction from the local domains, and user.* for the party (or parties) inside the
 * organization. Domains compare without regard to case (Elastic compares them exactly; mail domains are
 * case-insensitive). With no local domains configured neither is written, as in Elastic.
 */
function mapDirection(doc: Doc, identities: Partial<Record<Side, Identity>>, localDomains: readonly string[]): void {
  if (localDomains.length === 0) return;
  const isLocal = (side: Side) => {
    const domain = getPath(doc, [side, "domain"]);
    return typeof domain === "string" && localDomains.some((local) => local.toLowerCase() === domain.toLowerCase());
  };
  const direction = DIRECTIONS[`${isLocal("source")}>${isLocal("destination")}`];
  setPath(doc, "email.direction", direction);
  const users = (USER_SIDES[direction] ?? []).flatMap((side) => identities[side] ?? []);
  for (const [key, values] of [
    ["email", users.map((user) => user.email)],
    ["id", users.map((user) => user.email)],
    ["name", users.flatMap((user) => user.name ?? [])],
  ] as const) {
    const unique = [...new Set(values)];
    // Elastic reduces a list of one to the value itself.
    if (unique.length > 0) setPath(doc, ["user", key], unique.length === 1 ? unique[0] : unique);
  }
}

/** null, "" and containers left empty by dropping them are absent; everything else is copied without them. */
function withoutEmpty(value: unknown): unknown {
  if (value === null || value === "") return undefined;
  if (Array.isArray(value)) {
    const kept = value.map(withoutEmpty).filter((item) => item !== undefined);
    return kept.length > 0 ? kept : undefined;
  }
  if (isMap(value)) {
    const kept: Doc = {};
    for (const [key, child] of Object.entries(value)) {
      const cleaned = withoutEmpty(child);
      if (cleaned !== undefined) defineKey(kept, key, cleaned);
    }
    return Object.keys(kept).length > 0 ? kept : undefined;
  }
  return value;
}

/** A table's own entry: a row's key or value may be `constructor` or `__proto__`, which a plain lookup would find on Object.prototype. */
function own<V>(table: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

function describeType(value: unknown): string {
  return Array.isArray(value) ? "an array" : value === null ? "null" : `a ${typeof value}`;
}
