import { inspect } from "node:util";
import { parseClientAddress, parseServerAddress, splitEmail } from "./address.js";
import { flattenAudit, parseAlertData } from "./audit.js";
import { appendPath, asString, type Doc, getPath, isMap, moveField, setPath } from "./doc.js";
import type { GeoLookup } from "./geoip.js";
import { recordTypeName } from "./recordTypes.js";
import { urlParts } from "./url.js";
import { parseUserAgent } from "./userAgent.js";
import { ACTION_RENAMES, ALERT_DATA_USERS, ALERT_EMAIL_FIELDS, CATEGORY_RULES, FIELD_MOVES, RELATED_BY_TYPE, SCHEMA_ALIASES, SEVERITIES } from "./tables.js";

/**
 * normalize(record, context) turns one raw Management Activity API record into one ECS document
 * shaped like Elastic's o365 integration output (`logs-o365.audit-*`, ECS 8.11).
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
  /** GeoIP and ASN lookups for source.ip; no source.geo / source.as without them. */
  geoip?: GeoLookup;
  /** Parse user_agent.original into name, version, os and device (default on). */
  parseUserAgents?: boolean;
  /** Add url.domain, registered domain, subdomain, TLD, path… beside url.original (default on). */
  parseUrls?: boolean;
}

export type EcsDocument = Record<string, unknown>;

export const ECS_VERSION = "8.11.0";

const OUTCOMES: Readonly<Record<string, "success" | "failure">> = {
  succeeded: "success",
  success: "success",
  partiallysucceeded: "success",
  true: "success",
  failed: "failure",
  false: "failure",
};

export function normalize(record: unknown, context: NormalizeContext): EcsDocument {
  try {
    if (!isMap(record)) {
      return pipelineErrorDocument(record, `record is ${Array.isArray(record) ? "an array" : record === null ? "null" : `a ${typeof record}`}, not an object`, context);
    }
    if (record.Operation !== undefined && record.Operation !== null && typeof record.Operation !== "string") {
      return pipelineErrorDocument(record, `Operation is a ${typeof record.Operation}, not a string`, context);
    }
    return mapRecord(record, context);
  } catch (error) {
    return pipelineErrorDocument(record, error instanceof Error ? error.message : String(error), context);
  }
}

/**
 * The largest document written as mapped. Audit records are a few kilobytes; one that maps to
 * more than this is carrying something pathological, and is written as a pipeline_error instead.
 */
export const MAX_DOCUMENT_CHARS = 1_000_000;

/** normalize() and JSON in one step, as the worker writes it: one NDJSON line, size-checked. */
export function normalizeToLine(record: unknown, context: NormalizeContext): { line: string; pipelineError: boolean } {
  const doc = normalize(record, context);
  let line = JSON.stringify(doc);
  let pipelineError = (doc.event as { kind?: string }).kind === "pipeline_error";
  if (line.length > MAX_DOCUMENT_CHARS && !pipelineError) {
    line = JSON.stringify(pipelineErrorDocument(record, `document is ${line.length} characters, more than the limit of ${MAX_DOCUMENT_CHARS}: a field is too large to index`, context));
    pipelineError = true;
  }
  return { line: `${line}\n`, pipelineError };
}

/** The same for every document: shared rather than allocated per record (documents are serialized, not changed). */
const ECS = Object.freeze({ version: ECS_VERSION });
const CLIENT_ADDRESS_FIELDS = ["ClientIPAddress", "ClientIP", "ActorIpAddress"] as const;

/** Moves a top-level field of the working copy out; returns it (null counts as absent). */
function take(audit: Doc, field: string): unknown {
  const value = audit[field];
  if (value === undefined || value === null) return undefined;
  audit[field] = undefined;
  return value;
}

function mapRecord(record: Doc, context: NormalizeContext): EcsDocument {
  // Fields are moved out of a shallow working copy as they are mapped (nested objects are copied
  // only where changed), and what is left is kept under o365.audit. The input is never changed.
  const audit: Doc = { ...record };
  const event: Doc = { kind: "event", type: ["info"], category: ["web"] };
  const doc: Doc = {
    "@timestamp": timestamp(audit.CreationTime) ?? new Date(context.now()).toISOString(),
    ecs: ECS,
    event,
  };
  if (context.preserveOriginal) event.original = context.originalText ?? JSON.stringify(record);
  const id = take(audit, "Id");
  if (id !== undefined) event.id = id;

  const temp: Doc = {};
  for (const field of CLIENT_ADDRESS_FIELDS) {
    const address = take(audit, field);
    if (address !== undefined) {
      temp.client = address;
      break;
    }
  }
  const userId = asString(audit.UserId);
  if (userId !== undefined) doc.user = { id: userId };
  const provider = take(audit, "Workload");
  if (provider !== undefined) event.provider = provider;
  const action = take(audit, "Operation");
  if (action !== undefined) event.action = action;
  const orgId = take(audit, "OrganizationId");
  if (orgId !== undefined) doc.organization = { id: orgId };
  const agent = take(audit, "UserAgent");
  if (agent !== undefined) doc.user_agent = { original: agent };
  const code = recordTypeName(audit.RecordType);
  if (code !== undefined) event.code = code;
  event.outcome = OUTCOMES[asString(audit.ResultStatus)?.toLowerCase() ?? ""] ?? "success";

  const errors: string[] = [];
  flattenAudit(audit, errors);
  parseAlertData(audit);
  const severity = SEVERITIES[asString(audit.Severity) ?? ""];
  if (severity !== undefined) event.severity = severity;

  mapWorkload(code, audit, doc, temp);
  mapNetwork(doc, temp);
  mapUsers(doc);
  if (isMap(audit.ExtendedProperties)) moveField(audit, "ExtendedProperties.UserAgent", doc, "user_agent.original");
  mapTenant(doc, context);
  doc.o365 = { audit };
  mapRelatedByType(code, doc);
  if (errors.length > 0) setPath(doc, "error.message", errors);
  enrichSource(doc, context);
  const url = getPath(doc, "url.original");
  if (typeof url === "string" && context.parseUrls !== false) {
    const parts = urlParts(url);
    if (parts) doc.url = { original: url, ...parts };
  }
  const original = getPath(doc, "user_agent.original");
  if (typeof original === "string" && context.parseUserAgents !== false) doc.user_agent = parseUserAgent(original);
  return doc;
}

/** The field-move table, resolved once: `x._temp` targets are raw addresses parsed later, held in `temp.x`. */
const MOVES: Readonly<Record<string, readonly { from: string; to: string; temp: boolean }[]>> = Object.fromEntries(
  Object.entries(FIELD_MOVES).map(([schema, moves]) => [
    schema,
    moves.map(([from, to]) => (to.endsWith("._temp") ? { from, to: to.slice(0, -"._temp".length), temp: true } : { from, to, temp: false })),
  ]),
);

/** Field moves, action renames and categories for the record's type. */
function mapWorkload(code: string | undefined, audit: Doc, doc: Doc, temp: Doc): void {
  const schema = code ? (SCHEMA_ALIASES[code] ?? code) : undefined;
  if (code === "ExchangeItem" && getPath(doc, "user.id") === undefined) {
    const sid = asString(audit.LogonUserSid);
    if (sid !== undefined) setPath(doc, "user.id", sid);
  }
  if (code === "AzureActiveDirectory" && audit.ObjectId !== undefined && audit.ObjectId !== null) setPath(doc, "user.target.id", audit.ObjectId);
  const rename = code ? ACTION_RENAMES[code]?.[getPath(doc, "event.action") as string] : undefined;
  if (rename) setPath(doc, "event.action", rename);
  for (const move of (schema && MOVES[schema]) || []) moveField(audit, move.from, move.temp ? temp : doc, move.to);
  if (code === "SecurityComplianceAlerts") mapAlert(audit, doc);
  if (code === "ExchangeItem" || code === "ExchangeItemGroup") mapMailItems(audit, doc);
  if (schema === "ComplianceDLP") mapDlp(audit, doc);
  if (code === "Yammer" && getPath(doc, "user.id") === undefined) {
    const id = asString(audit.ActorYammerUserId);
    if (id !== undefined) setPath(doc, "user.id", id);
  }
  if (code === "MicrosoftTeams" && getPath(doc, "event.action") === "deleted-user-account") moveField(audit, "ObjectId", doc, "user.target.id");
  applyCategoryRules(code, doc);
  if (code === "MicrosoftTeams" && Array.isArray(audit.Members)) {
    for (const member of audit.Members) {
      if (isMap(member) && typeof member.UPN === "string" && member.UPN !== "") appendPath(doc, "related.user", member.UPN);
    }
  }
}

/** Categories and types per (record type, action), worked out from the rules once and then looked up. */
const CATEGORIZATION = new Map<string, { categories: readonly string[]; types: readonly string[] }>();

function categorization(code: string | undefined, action: string | undefined) {
  const key = `${code ?? ""}\u0000${action ?? ""}`;
  let found = CATEGORIZATION.get(key);
  if (!found) {
    const categories: string[] = [];
    const types: string[] = [];
    for (const rule of CATEGORY_RULES) {
      if (rule.codes && (!code || !rule.codes.includes(code))) continue;
      if (rule.actions && (!action || !rule.actions.includes(action))) continue;
      categories.push(...(rule.categories ?? []));
      types.push(...(rule.types ?? []));
    }
    found = { categories, types };
    if (CATEGORIZATION.size < 10_000) CATEGORIZATION.set(key, found);
  }
  return found;
}

function applyCategoryRules(code: string | undefined, doc: Doc): void {
  const event = doc.event as { action?: unknown; category: string[]; type: string[] };
  const { categories, types } = categorization(code, typeof event.action === "string" ? event.action : undefined);
  for (const category of categories) event.category.push(category);
  for (const type of types) event.type.push(type);
}

/**
 * Security & Compliance Center alerts: the rule, and the user and e-mail the alert's Data names.
 * (Elastic derives no category from the alert's Category: it is web/info.)
 */
function mapAlert(audit: Doc, doc: Doc): void {
  setPath(doc, "event.kind", "alert");
  appendPath(doc, "event.category", "web", false);
  appendPath(doc, "event.type", "info", false);
  const name = getPath(doc, "rule.name");
  if (name !== undefined) setPath(doc, "message", name);
  const ruleset = getPath(doc, "rule.ruleset");
  const entity = asString(getPath(doc, "rule.description"));
  if (ruleset === "User" && getPath(doc, "user.id") === undefined && entity !== undefined) setPath(doc, "user.id", entity);
  if ((ruleset === "Recipients" || ruleset === "Sender") && entity !== undefined) setPath(doc, "user.email", entity);
  const data = isMap(audit.Data) ? audit.Data : {};
  if (typeof data.f3u === "string" && data.f3u !== "" && getPath(doc, "user.email") === undefined) setPath(doc, "user.email", data.f3u);
  for (const [key, path] of ALERT_EMAIL_FIELDS) {
    if (typeof data[key] === "string" && data[key] !== "") setPath(doc, path, [data[key]]);
  }
}

/** Exchange mailbox items: subject, message id and attachments of the item(s) acted on. */
function mapMailItems(audit: Doc, doc: Doc): void {
  const items = [audit.Item, ...(Array.isArray(audit.AffectedItems) ? audit.AffectedItems : [])].filter(isMap);
  let found = false;
  for (const item of items) {
    if (typeof item.Subject === "string") {
      appendPath(doc, "email.subject", item.Subject);
      found = true;
    }
    if (typeof item.InternetMessageId === "string") {
      appendPath(doc, "email.message_id", item.InternetMessageId);
      found = true;
    }
    for (const attachment of parseAttachments(item.Attachments)) {
      appendPath(doc, "email.attachments", { file: attachment });
      found = true;
    }
  }
  if (found) appendPath(doc, "event.category", "email");
}

/** `"logo.png (8192b); report.pdf (1024b)"` → file name, extension and size of each attachment. */
function parseAttachments(value: unknown): { name: string; extension?: string; size?: number }[] {
  if (typeof value !== "string" || value === "") return [];
  return value.split("; ").flatMap((part) => {
    const found = /^(.*) \((\d+)b\)$/.exec(part.trim());
    const name = found ? (found[1] as string) : part.trim();
    if (name === "") return [];
    const dot = name.lastIndexOf(".");
    return [{ ...(dot > 0 ? { extension: name.slice(dot + 1) } : {}), name, ...(found ? { size: Number(found[2]) } : {}) }];
  });
}

/** DLP: the rules that matched, the highest severity, and whether access was blocked. */
function mapDlp(audit: Doc, doc: Doc): void {
  setPath(doc, "event.kind", "alert");
  if (getPath(doc, "user.id") === undefined) moveField(audit, "SharePointMetaData.From", doc, "user.id");
  const modified = getPath(audit, "SharePointMetaData.LastModifiedTime");
  const mtime = timestamp(modified);
  if (mtime) setPath(doc, "file.mtime", mtime);
  const exchange = audit.ExchangeMetaData;
  if (isMap(exchange)) {
    const emails: unknown[] = [];
    for (const field of ["To", "CC", "BCC"]) {
      const value = exchange[field];
      if (Array.isArray(value)) emails.push(...value);
      else if (typeof value === "string") emails.push(value);
    }
    setPath(doc, "destination.user.email", emails);
  }
  if (typeof audit.ExceptionInfo === "string") audit.ExceptionInfo = { Reason: audit.ExceptionInfo };
  if (!Array.isArray(audit.PolicyDetails)) return;
  const ids: unknown[] = [];
  const names: unknown[] = [];
  let severity = 0;
  let blocked = false;
  for (const policy of audit.PolicyDetails) {
    for (const rule of isMap(policy) && Array.isArray(policy.Rules) ? policy.Rules : []) {
      if (!isMap(rule)) continue;
      if (rule.RuleId != null && rule.RuleName != null) {
        ids.push(rule.RuleId);
        names.push(rule.RuleName);
      }
      severity = Math.max(severity, SEVERITIES[String(rule.Severity ?? "").toLowerCase()] ?? 0);
      if (Array.isArray(rule.Actions) && rule.Actions.includes("BlockAccess")) blocked = true;
    }
  }
  setPath(doc, "rule.id", [...toList(getPath(doc, "rule.id")), ...ids]);
  setPath(doc, "rule.name", [...toList(getPath(doc, "rule.name")), ...names]);
  setPath(doc, "event.severity", severity);
  const action = getPath(doc, "event.action");
  const excepted = isMap(audit.ExceptionInfo) ? Object.keys(audit.ExceptionInfo).length > 0 : audit.ExceptionInfo != null && String(audit.ExceptionInfo) !== "";
  setPath(doc, "event.outcome", !blocked || action === "DlpRuleUndo" || (action !== "DlpInfo" && excepted) ? "success" : "failure");
}

function toList(value: unknown): unknown[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

const CLIENT_PATHS = { address: "client.address", domain: "client.domain", ip: "client.ip", port: "client.port" } as const;
const SERVER_PATHS = { address: "server.address", domain: "server.domain", ip: "server.ip" } as const;

/** client.*, server.*, source.*, destination.ip, network.type and related.ip from the raw addresses. */
function mapNetwork(doc: Doc, temp: Doc): void {
  const client = parseClientAddress(temp.client);
  if (client) {
    for (const key of ["address", "domain", "ip", "port"] as const) if (client[key] !== undefined) setPath(doc, CLIENT_PATHS[key], client[key]);
    if (client.ip !== undefined) setPath(doc, "source.ip", client.ip);
    if (client.ip !== undefined && client.port !== undefined) setPath(doc, "source.port", client.port);
  }
  const server = parseServerAddress(temp.server);
  if (server) {
    for (const key of ["address", "domain", "ip"] as const) if (server[key] !== undefined) setPath(doc, SERVER_PATHS[key], server[key]);
    if (server.ip !== undefined) setPath(doc, "destination.ip", server.ip);
  }
  if (client?.ip !== undefined) setPath(doc, "network.type", client.ip.includes(":") ? "ipv6" : "ipv4");
  if (client?.ip !== undefined) appendPath(doc, "related.ip", client.ip, false);
  if (server?.ip !== undefined) appendPath(doc, "related.ip", server.ip, false);
}

/** The identities whose UPN-shaped id is split into email, domain and name. */
const IDENTITIES = ["user", "user.target", "source.user", "destination.user"].map((prefix) => ({
  id: `${prefix}.id`,
  email: `${prefix}.email`,
  domain: `${prefix}.domain`,
  name: `${prefix}.name`,
}));

/** user.*, user.target.*, source.user.*, destination.user.* from UPN-shaped ids, and related.user. */
function mapUsers(doc: Doc): void {
  for (const paths of IDENTITIES) {
    const split = splitEmail(getPath(doc, paths.id));
    if (!split) continue;
    setPath(doc, paths.email, split.email);
    setPath(doc, paths.domain, split.domain);
    setPath(doc, paths.name, split.name);
  }
  for (const path of ["user.name", "user.target.name", "file.owner"]) {
    const value = getPath(doc, path);
    if (value !== undefined && value !== null) appendPath(doc, "related.user", value, false);
  }
}

/** related.user / related.hosts from alert Data, and from the fields Elastic adds for some record types. */
function mapRelatedByType(code: string | undefined, doc: Doc): void {
  const extra = code ? RELATED_BY_TYPE[code] : undefined;
  const users = isMap(getPath(doc, "o365.audit.Data")) ? [...ALERT_DATA_USERS, ...(extra?.users ?? [])] : extra?.users;
  for (const path of users ?? []) {
    for (const value of toList(getPath(doc, path))) if (typeof value === "string" && value !== "") appendPath(doc, "related.user", value, false);
  }
  if (!extra) return;
  for (const path of extra.hosts) {
    const value = getPath(doc, path);
    if (typeof value === "string" && value !== "") appendPath(doc, "related.hosts", value, false);
  }
}

/** organization.* and host.* from the tenant, named from the configured tenant domains when known. */
function mapTenant(doc: Doc, context: NormalizeContext): void {
  const orgId = getPath(doc, "organization.id");
  if (typeof orgId === "string") {
    const id = orgId.toLowerCase();
    setPath(doc, "organization.id", id);
    setPath(doc, "host.id", id);
    const name = context.tenantNames.get(id);
    if (name) {
      setPath(doc, "organization.name", name);
      setPath(doc, "host.name", name);
    }
  }
  if (getPath(doc, "host.name") === undefined) {
    const name = getPath(doc, "organization.name") ?? getPath(doc, "user.domain");
    if (name !== undefined) setPath(doc, "host.name", name);
  }
}

function enrichSource(doc: Doc, context: NormalizeContext): void {
  const ip = getPath(doc, "source.ip");
  if (typeof ip !== "string" || !context.geoip) return;
  const geo = context.geoip.geo(ip);
  if (geo) setPath(doc, "source.geo", geo);
  const as = context.geoip.as(ip);
  if (as) setPath(doc, "source.as", as);
}

const PLAIN_UTC_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;

/** CreationTime is ISO 8601, usually UTC without a zone designator ("2022-04-01T00:00:01"). */
function timestamp(value: unknown): string | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  // The usual form needs no round trip through Date, only a check that it is a real date.
  if (PLAIN_UTC_SECONDS.test(value)) {
    const ms = Date.parse(`${value}Z`);
    return Number.isNaN(ms) || new Date(ms).getUTCDate() !== Number(value.slice(8, 10)) ? undefined : `${value}.000Z`;
  }
  const withZone = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(value) ? value : `${value}Z`;
  const ms = Date.parse(withZone);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** The document for input that cannot be mapped: the original kept, the reason in error.message. */
export function pipelineErrorDocument(record: unknown, message: string, context: NormalizeContext): EcsDocument {
  return {
    "@timestamp": new Date(context.now()).toISOString(),
    ecs: { version: ECS_VERSION },
    event: { kind: "pipeline_error", original: context.originalText ?? describeOriginal(record) },
    error: { message },
  };
}

/** The input as text, whatever it is: JSON where possible (BigInts as digits), else Node's own rendering. */
function describeOriginal(record: unknown): string {
  if (typeof record === "string") return record;
  try {
    const json = JSON.stringify(record, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value));
    if (json !== undefined) return json;
  } catch {
    // cyclic or otherwise unserializable: fall through
  }
  return inspect(record, { depth: 8, breakLength: Infinity });
}
