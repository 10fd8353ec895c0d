import { documentLine, ECS_VERSION, type EcsDocument, pipelineErrorDocument, PRESERVE_ORIGINAL_TAG } from "../../../ecs/document.js";
import { canonicalIp, type ParsedAddress, parseClientAddress, parseServerAddress, splitEmail } from "../../../ecs/address.js";
import { flattenAudit, parseAlertData } from "./audit.js";
import { appendPath, appendRelated, asString, clearPath, type Doc, getPath, isMap, memoize, moveField, setPath } from "../../../ecs/doc.js";
import type { GeoLookup } from "../../../ecs/geoip.js";
import { ALWAYS, bitOf, bitOfDocumentPath, presenceOf } from "./presence.js";
import { recordTypeName } from "./recordTypes.js";
import { isoTimestamp } from "../../../ecs/dates.js";
import { urlParts } from "../../../ecs/url.js";
import { parseUserAgent } from "../../../ecs/userAgent.js";
import { mapDefender, mapEntities } from "./defender.js";
import {
  ACTION_RENAMES,
  ACTOR_ADDRESS_FIELDS,
  ALERT_DATA_USERS,
  ALERT_EMAIL_FIELDS,
  ALERT_ENTITY_FIELDS,
  AUDIT_RENAMES,
  CATEGORY_RULES,
  DATA_TIMES,
  EMAIL_SOURCES,
  FIELD_COPIES,
  FIELD_MOVES,
  FORWARDING_PARAMETERS,
  RECORD_TIMES,
  RELATED_BY_TYPE,
  SCHEMA_ALIASES,
  SEVERITIES,
} from "./tables.js";

/**
 * normalize(record, context) turns one raw Management Activity API record into one ECS document
 * shaped like Elastic's o365 integration output (`logs-o365.audit-*`, ECS 8.11).
 * It never throws: a record it cannot map becomes an `event.kind: pipeline_error` document that
 * keeps the original, so nothing is dropped on the way to the index.
 *
 * The record is not changed, unless its `text` comes with it: a caller that gives the JSON the record
 * was parsed from hands the record over (the worker's records, see Source.toLine). It is then mapped in
 * place, with no working copy, and the text is its original.
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

/** ResultStatus (in lower case) → event.outcome; a Map, so a status such as "constructor" finds nothing. */
const OUTCOMES: ReadonlyMap<string, "success" | "failure"> = new Map([
  ["succeeded", "success"],
  ["success", "success"],
  ["partiallysucceeded", "success"],
  ["true", "success"],
  ["failed", "failure"],
  ["false", "failure"],
]);

export function normalize(record: unknown, context: NormalizeContext, text?: string): EcsDocument {
  try {
    if (!isMap(record)) {
      return auditPipelineError(record, `record is ${Array.isArray(record) ? "an array" : record === null ? "null" : `a ${typeof record}`}, not an object`, context, text);
    }
    if (record.Operation !== undefined && record.Operation !== null && typeof record.Operation !== "string") {
      return auditPipelineError(record, `Operation is a ${typeof record.Operation}, not a string`, context, text);
    }
    return mapRecord(record, context, text);
  } catch (error) {
    return auditPipelineError(record, error instanceof Error ? error.message : String(error), context, text);
  }
}

/**
 * A record that cannot be mapped still keeps its own time (a valid CreationTime) and its Id, as Elastic's
 * failed pipeline keeps what it had set. One mapped in place may have lost fields before the mapping
 * failed: those two are then read from its text, parsed again (it parsed before).
 */
function auditPipelineError(record: unknown, message: string, context: NormalizeContext, text?: string): EcsDocument {
  const original: unknown = text === undefined ? record : JSON.parse(text);
  const own = isMap(original) ? { time: isoTimestamp(original.CreationTime), id: typeof original.Id === "string" ? original.Id : undefined } : {};
  return pipelineErrorDocument(original, message, text === undefined ? context : { now: context.now, originalText: text }, own);
}

/**
 * normalize() and JSON in one step, as the worker writes it; `finish` adds what the pipeline stamps on
 * every document, and `text` hands the record over (see normalize).
 */
export function normalizeToLine(record: unknown, context: NormalizeContext, finish?: (doc: EcsDocument) => EcsDocument, text?: string): { line: string; pipelineError: boolean } {
  return documentLine(record, context, normalize, auditPipelineError, finish, text);
}

/** ResultStatus → event.outcome, remembered per status as sent: records carry a handful of statuses, each in one spelling, and lower-casing the status of every record cost an allocation each. */
const outcomeOf = memoize(1_000, (status): "success" | "failure" => OUTCOMES.get(status.toLowerCase()) ?? "success");

/** The same for every document: shared rather than allocated per record (documents are serialized, not changed). */
const ECS = Object.freeze({ version: ECS_VERSION });
const CLIENT_ADDRESS_FIELDS = ["ClientIPAddress", "ClientIP", "ActorIpAddress"].map((field) => ({ field, bit: bitOf(field) }));

/** Moves a field of the working copy out; returns it (null counts as absent). Nested ones (`dotted`) are cleared without changing the input. */
function take(audit: Doc, field: string, dotted = false): unknown {
  const value = dotted ? getPath(audit, field) : audit[field];
  if (value === undefined || value === null) return undefined;
  if (dotted) clearPath(audit, field);
  else audit[field] = undefined;
  return value;
}

function mapRecord(record: Doc, context: NormalizeContext, text: string | undefined): EcsDocument {
  // Fields are moved out of a shallow working copy as they are mapped (nested objects are copied
  // only where changed), and what is left is kept under o365.audit. The input is not changed, unless
  // it was handed over with its text: it is then its own working copy, which saves a copy of every
  // field (0.5-0.7 µs and 0.6 KB of the mapping's 5 µs and 3 KB a record, measured).
  // The steps run in the order Elastic's pipeline runs them, which decides who wins a field.
  const audit: Doc = text === undefined ? { ...record } : record;
  const original = text ?? context.originalText;
  let present = presenceOf(record);
  const { doc, event, temp, code } = mapCommonFields(record, audit, context, present, original);
  copyFields(EARLY_COPIES, audit, doc, present);

  const errors: string[] = [];
  flattenAudit(audit, errors, present);
  if (present & DATA) parseAlertData(audit, code);
  if (doc["@timestamp"] === undefined) recordTime(code, audit, doc, event, context);
  const severity = present & SEVERITY ? SEVERITIES[asString(audit.Severity) ?? ""] : undefined;
  if (severity !== undefined) event.severity = severity;
  if (present & PARAMETERS) present |= mapParameters(audit, doc);

  mapWorkload(code, audit, doc, temp);
  mapNetwork(doc, temp, context.geoip);
  mapUsers(doc, audit, present);
  if (present & EXTENDED_PROPERTIES && isMap(audit.ExtendedProperties)) moveField(audit, "ExtendedProperties.UserAgent", doc, "user_agent.original");
  mapTenant(doc, audit, context, present);
  const userType = asString(audit.UserType);
  if (event.provider === undefined && userType) event.provider = userType;

  doc.o365 = { audit };
  mapEmail(doc, present);
  if (present & DATA) mapAlertData(doc);
  mapDefender(code, audit, doc);
  copyFields(LATE_COPIES, doc, doc, present);
  if (present & EXTENDED_PROPERTIES) {
    const detailsAgent = getPath(audit, "ExtendedProperties.additionalDetails.User-Agent");
    if (getPath(doc, "user_agent.original") === undefined && typeof detailsAgent === "string" && detailsAgent !== "") setPath(doc, "user_agent.original", detailsAgent);
  }
  for (const [from, to] of (code && AUDIT_RENAMES[code]) || []) moveField(audit, from, audit, to);
  mapRelatedByType(code, doc);
  if (errors.length > 0) {
    // Mapped, but something in it could not be read: flagged as Elastic flags it, original kept.
    event.kind = "pipeline_error";
    event.original ??= original ?? JSON.stringify(record);
    doc.error = { message: errors };
    doc.tags = [PRESERVE_ORIGINAL_TAG];
  }
  enrich(doc, context);
  return doc;
}

/** The fields every record has: time, id, addresses, user, workload, action, tenant, type and outcome. */
function mapCommonFields(record: Doc, audit: Doc, context: NormalizeContext, present: number, original: string | undefined) {
  const event: Doc = { kind: "event", type: ["info"], category: ["web"] };
  // The record's own time; one without CreationTime is dated once its other fields are read (recordTime).
  const doc: Doc = { "@timestamp": creationTime(audit.CreationTime), ecs: ECS, event };
  if (context.preserveOriginal) {
    // Read before any field is moved out of the record.
    event.original = original ?? JSON.stringify(record);
    // Elastic keeps event.original only for events tagged so, and the tag stays on the document.
    doc.tags = [PRESERVE_ORIGINAL_TAG];
  }
  const id = take(audit, "Id");
  if (id !== undefined) event.id = id;
  const code = recordTypeName(audit.RecordType);
  // Raw addresses, parsed once the record type's own address fields are known.
  const temp: Doc = {};
  for (const { field, bit } of CLIENT_ADDRESS_FIELDS) {
    if ((present & bit) === 0) continue;
    const address = take(audit, field);
    if (address !== undefined) {
      temp.client = address;
      break;
    }
  }
  const actorAddress = code !== undefined && temp.client === undefined ? ACTOR_ADDRESS_FIELDS[code] : undefined;
  if (actorAddress !== undefined && typeof audit[actorAddress] === "string") temp.client = audit[actorAddress];
  const userId = asString(audit.UserId);
  if (userId !== undefined && userId !== "") doc.user = { id: userId };
  const provider = take(audit, "Workload");
  if (provider !== undefined) event.provider = provider;
  const action = take(audit, "Operation");
  if (action !== undefined) event.action = action;
  const orgId = take(audit, "OrganizationId");
  if (orgId !== undefined) doc.organization = { id: orgId };
  const agent = take(audit, "UserAgent");
  if (agent !== undefined) doc.user_agent = { original: agent };
  if (code !== undefined) event.code = code;
  const status = asString(audit.ResultStatus) ?? "";
  event.outcome = outcomeOf(status);
  return { doc, event, temp, code };
}

/** `CreationTime` as @timestamp: absent is undefined (dated later), present but not a date is an error, as in Elastic's date processor. */
function creationTime(value: unknown): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const iso = isoTimestamp(value);
  if (iso === undefined) throw new Error(`CreationTime is not an ISO 8601 date: ${JSON.stringify(value)}`);
  return iso;
}

/**
 * The time of a record without CreationTime: its family's own time field (RECORD_TIMES), else the
 * end or start of its alert window; with none, the time of ingestion, and event.ingested says so.
 * Read after flattenAudit and parseAlertData, which have put the dates in ISO 8601.
 */
function recordTime(code: string | undefined, audit: Doc, doc: Doc, event: Doc, context: NormalizeContext): void {
  const data = isMap(audit.Data) ? audit.Data : undefined;
  const candidates = [...((code && RECORD_TIMES[code]) || []).map((field) => audit[field]), ...DATA_TIMES.map((key) => data?.[key])];
  for (const candidate of candidates) {
    const iso = isoTimestamp(candidate);
    if (iso !== undefined) {
      doc["@timestamp"] = iso;
      return;
    }
  }
  const now = new Date(context.now()).toISOString();
  doc["@timestamp"] = now;
  event.ingested = now;
}

/** url.* parts and user_agent.* parts: each off when its input or setting is absent. */
function enrich(doc: Doc, context: NormalizeContext): void {
  const url = doc.url as Doc | undefined;
  if (url !== undefined && typeof url.original === "string" && context.parseUrls !== false) {
    const parts = urlParts(url.original);
    // A part the record gave already (url.domain from OriginatingDomain) is kept, as Elastic keeps it.
    if (parts) for (const key in parts) url[key] ??= parts[key];
  }
  const agent = doc.user_agent as Doc | undefined;
  if (agent !== undefined && typeof agent.original === "string" && context.parseUserAgents !== false) doc.user_agent = parseUserAgent(agent.original);
}

/** A table's dotted paths, split once. */
const split = (path: string): readonly string[] => path.split(".");

/** A path a table reads, with the bit of the raw field it depends on (early copies read the raw record, the rest the document). */
const probe = (path: string, early: boolean) => ({ path: split(path), bit: early ? bitOf(path) : bitOfDocumentPath(path) });

const COPIES = FIELD_COPIES.map((copy) => ({ to: split(copy.to), from: copy.from.map((path) => probe(path, copy.early === true)) }));
const EARLY_COPIES = COPIES.filter((_, i) => FIELD_COPIES[i]?.early);
const LATE_COPIES = COPIES.filter((_, i) => !FIELD_COPIES[i]?.early);
const EMAIL_PATHS = EMAIL_SOURCES.map(([from, to]) => ({ from: probe(from, false), to: split(to), ip: to.endsWith(".ip") }));
const DATA = bitOf("Data");
const SEVERITY = bitOf("Severity");
const DEVICE_NAME = bitOf("DeviceName");
const EXTENDED_PROPERTIES = bitOf("ExtendedProperties");
const PARAMETERS = bitOf("Parameters");
const ITEM = bitOf("Item");
const NETWORK_MESSAGE_ID = bitOf("NetworkMessageId");

/** Elastic's `set copy_from` with its empty-value check: the first source that holds something. */
function copyFields(copies: typeof COPIES, from: Doc, to: Doc, present: number): void {
  for (const copy of copies) {
    for (const { path, bit } of copy.from) {
      if (bit !== ALWAYS && (present & bit) === 0) continue;
      const value = getPath(from, path);
      if (isEmpty(value)) continue;
      setPath(to, copy.to, value);
      break;
    }
  }
}

function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0) || (isMap(value) && Object.keys(value).length === 0);
}

/**
 * Exchange cmdlet parameters: forwarding addresses, the sender, and the message a `-Identity` names.
 * Returns the presence bit of a raw field it adds (the message id), for the probes that follow.
 */
function mapParameters(audit: Doc, doc: Doc): number {
  const parameters = audit.Parameters;
  if (!isMap(parameters)) return 0;
  let added = 0;
  if ((audit.NetworkMessageId === undefined || audit.NetworkMessageId === null || audit.NetworkMessageId === "") && typeof parameters._raw === "string") {
    const identity = /^-?Identity\s"?(.*?)"?$/.exec(parameters._raw);
    if (identity) {
      audit.NetworkMessageId = identity[1];
      added = NETWORK_MESSAGE_ID;
    }
  }
  for (const name of FORWARDING_PARAMETERS) {
    const value = parameters[name];
    if (typeof value !== "string") continue;
    for (const address of value.split(";")) {
      const trimmed = address.trim();
      if (trimmed !== "") appendPath(doc, "email.to.address", trimmed, false);
    }
  }
  // A list is copied: later senders are appended to the document's list, never to the record's.
  if (!isEmpty(parameters.From)) setPath(doc, "email.from.address", Array.isArray(parameters.From) ? [...parameters.From] : parameters.From);
  return added;
}

/** email.* and related.ip from the mail fields any record type may carry, and the item's attachments. */
function mapEmail(doc: Doc, present: number): void {
  for (const { from, to, ip } of EMAIL_PATHS) {
    if (from.bit !== ALWAYS && (present & from.bit) === 0) continue;
    const found = getPath(doc, from.path);
    if (found === undefined || found === null) continue; // the usual case: checked before any list is made
    for (const value of toList(found)) {
      if (value === undefined || value === null || value === "") continue;
      // An IP field takes only IPs: one that is not would have the index reject the whole document.
      const written = ip ? canonicalIp(value) : typeof value === "string" ? value : JSON.stringify(value);
      if (written !== undefined) appendPath(doc, to, written, false);
    }
  }
  const attachments = present & ITEM ? parseAttachments(getPath(doc, "o365.audit.Item.Attachments")) : [];
  if (attachments.length > 0) setPath(doc, "email.attachments", attachments.map((file) => ({ file })));
}

/** Elastic's test for a user name in alert Data that is an address: exactly one `@`. */
function isAddress(value: unknown): value is string {
  return typeof value === "string" && splitEmail(value) !== undefined;
}

/** The user and e-mail an alert's Data names, and the entities it lists (AIR investigations, alerts). */
function mapAlertData(doc: Doc): void {
  const data = getPath(doc, "o365.audit.Data");
  if (!isMap(data)) return;
  for (const key of ALERT_DATA_USERS) {
    if (isAddress(data[key])) appendRelated(doc, "user", data[key]);
    if (key === "f3u" && isAddress(data.f3u) && getPath(doc, "user.email") === undefined) setPath(doc, "user.email", data.f3u);
  }
  for (const [key, path] of ALERT_EMAIL_FIELDS) {
    if (data[key] !== undefined && data[key] !== null && data[key] !== "") appendPath(doc, path, data[key], false);
  }
  const entities = isMap(data.flattened) && Array.isArray(data.flattened.Entities) ? data.flattened.Entities.filter(isMap) : [];
  if (entities.length === 0) return;
  for (const [key, path] of ALERT_ENTITY_FIELDS) {
    const values = entities.flatMap((entity) => (key in entity ? [entity[key]] : []));
    if (values.length === 0) continue;
    if (path.startsWith("o365.audit.")) setPath(doc, path, values);
    else for (const value of values) {
      const written = path === "related.ip" ? canonicalIp(value) : value;
      if (written !== undefined) appendPath(doc, path, written, false);
    }
    if (key === "Recipient" && getPath(doc, "user.email") === undefined) setPath(doc, "user.email", values);
  }
  const methods = entities.flatMap((entity) => (Array.isArray(entity.ThreatDetectionMethods) ? entity.ThreatDetectionMethods : typeof entity.ThreatDetectionMethods === "string" ? [entity.ThreatDetectionMethods] : []));
  if (methods.length > 0) setPath(doc, "o365.audit.ThreatDetectionMethods", methods);
  mapEntities(entities, doc, canonicalIp);
}

/** The field-move table, resolved once: `x._temp` targets are raw addresses parsed later, held in `temp.x`. */
const MOVES: Readonly<Record<string, readonly { from: readonly string[]; to: readonly string[]; temp: boolean }[]>> = Object.fromEntries(
  Object.entries(FIELD_MOVES).map(([schema, moves]) => [
    schema,
    moves.map(([from, to]) => {
      const temp = to.endsWith("._temp");
      return { from: split(from), to: split(temp ? to.slice(0, -"._temp".length) : to), temp };
    }),
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
  if (code === "SecurityComplianceAlerts") mapAlert(doc);
  if (schema === "ComplianceDLP") mapDlp(code, audit, doc);
  if (code === "Yammer" && getPath(doc, "user.id") === undefined) {
    const id = asString(audit.ActorYammerUserId);
    if (id !== undefined) setPath(doc, "user.id", id);
  }
  if (code === "MicrosoftTeams" && getPath(doc, "event.action") === "deleted-user-account") moveField(audit, "ObjectId", doc, "user.target.id");
  applyCategoryRules(code, doc);
  if (code === "MicrosoftTeams" && Array.isArray(audit.Members)) {
    for (const member of audit.Members) {
      if (isMap(member) && typeof member.UPN === "string" && member.UPN !== "") appendRelated(doc, "user", member.UPN, true);
    }
  }
}

/** Categories and types per record type and action, worked out from the rules once and then looked up. */
type Categorization = { categories: readonly string[]; types: readonly string[] };
const CATEGORIZATION = new Map<string, Map<string, Categorization>>();
let categorized = 0;

function categorization(code: string | undefined, action: string | undefined): Categorization {
  let byAction = CATEGORIZATION.get(code ?? "");
  if (!byAction) {
    byAction = new Map();
    CATEGORIZATION.set(code ?? "", byAction);
  }
  let found = byAction.get(action ?? "");
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
    // Actions are open-ended text: the memo is bounded.
    if (categorized < 10_000) {
      byAction.set(action ?? "", found);
      categorized += 1;
    }
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
 * Security & Compliance Center alerts: the rule, as an alert. (Elastic derives no category from
 * the alert's Category, nor a user from its entity: it moves both under rule.* first.)
 */
function mapAlert(doc: Doc): void {
  setPath(doc, "event.kind", "alert");
  appendPath(doc, "event.category", "web", false);
  appendPath(doc, "event.type", "info", false);
  const name = getPath(doc, "rule.name");
  if (name !== undefined) setPath(doc, "message", name);
}

/**
 * `"logo.png (8192b); report.pdf (1024b)"` → name, extension and size of each attachment; entries
 * without a size or an extension are skipped, as Elastic skips them.
 */
function parseAttachments(value: unknown): { extension: string; name: string; size: number }[] {
  if (typeof value !== "string" || value === "") return [];
  return value.split(";").flatMap((part) => {
    const entry = part.trim();
    const sizeAt = entry.lastIndexOf(" (");
    if (!entry.endsWith("b)") || sizeAt < 0) return [];
    const size = entry.slice(sizeAt + 2, -2);
    const name = entry.slice(0, sizeAt).trim();
    const dot = name.lastIndexOf(".");
    if (!/^[+-]?\d+$/.test(size) || name === "" || dot < 0) return [];
    return [{ extension: name.slice(dot + 1), name, size: Number(size) }];
  });
}

/** DLP: the rules that matched, the highest severity, whether access was blocked, and a message for mail. */
function mapDlp(code: string | undefined, audit: Doc, doc: Doc): void {
  setPath(doc, "event.kind", "alert");
  // The acting user is the one the workload names, not the policy agent in UserId (kept under o365.audit).
  const sharePoint = code === "ComplianceDLPSharePoint";
  const acting = sharePoint ? getPath(audit, "SharePointMetaData.From") : getPath(doc, "source.user.email");
  if (typeof acting === "string" && acting !== "") {
    // Elastic renames the SharePoint one to user.id; anything else there (an empty or odd value) stays under o365.audit.
    if (sharePoint) take(audit, "SharePointMetaData.From", true);
    child(doc, "user").id = acting;
  }
  if (code === "ComplianceDLPExchange") setPath(doc, "message", dlpMailMessage(audit, doc));
  const modified = getPath(audit, "SharePointMetaData.LastModifiedTime");
  const mtime = isoTimestamp(modified);
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

/** Elastic's summary of a DLP match in mail: "Office365 Alert: <action> detected in email sent by <user> with subject '<subject>'". */
function dlpMailMessage(audit: Doc, doc: Doc): string {
  const text = (value: unknown) => (value === undefined || value === null ? "" : String(value));
  const action = text(getPath(doc, "event.action"));
  const user = text(getPath(doc, "user.id"));
  const subject = text(getPath(audit, "ExchangeMetaData.Subject") ?? getPath(doc, "email.subject"));
  return action === "" && user === "" && subject === "" ? "Office365 Alert" : `Office365 Alert: ${action} detected in email sent by ${user} with subject '${subject}'`;
}

function toList(value: unknown): unknown[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** What one raw client address yields: its parts and, with GeoIP on, where its IP is and whose network it is in. */
interface ClientFields {
  parts: ParsedAddress | undefined;
  /** source.* of the address (ip, port, geo, as), when it is an IP. */
  source: Doc | undefined;
}

/**
 * Addresses repeat (a tenant's offices, its users' devices): each raw form is parsed and its IP
 * located once per set of GeoIP databases, in one cache entry that every record carrying it shares.
 */
const clientCaches = new WeakMap<object, (raw: string) => ClientFields>();
const WITHOUT_GEOIP = {};
function clientFields(raw: string, geoip: GeoLookup | undefined): ClientFields {
  const key = geoip ?? WITHOUT_GEOIP;
  let cache = clientCaches.get(key);
  if (!cache) {
    cache = memoize(50_000, (text): ClientFields => {
      const parts = parseClientAddress(text);
      if (parts?.ip === undefined) return { parts, source: undefined };
      const { geo, as } = geoip ? geoip.lookup(parts.ip) : { geo: undefined, as: undefined };
      return { parts, source: { ip: parts.ip, ...(parts.port !== undefined ? { port: parts.port } : {}), ...(geo ? { geo } : {}), ...(as ? { as } : {}) } };
    });
    clientCaches.set(key, cache);
  }
  return cache(raw);
}
const serverAddress = memoize(10_000, (raw) => parseServerAddress(raw));
const IPV4_NETWORK = Object.freeze({ type: "ipv4" });
const IPV6_NETWORK = Object.freeze({ type: "ipv6" });

/** The object under `key`, made when absent: for fields set one after another on the same parent. */
function child(doc: Doc, key: string): Doc {
  const found = doc[key];
  if (isMap(found)) return found;
  const made: Doc = {};
  doc[key] = made;
  return made;
}

/** client.*, server.*, source.* (with GeoIP and ASN), destination.ip, network.type and related.ip from the raw addresses. */
function mapNetwork(doc: Doc, temp: Doc, geoip: GeoLookup | undefined): void {
  // The cached parts are frozen and shared by every document with the address: documents are serialized, never changed.
  const fields = typeof temp.client === "string" && temp.client !== "" ? clientFields(temp.client, geoip) : undefined;
  const client = fields?.parts;
  if (client) doc.client = client;
  if (fields?.source) doc.source = isMap(doc.source) ? { ...doc.source, ...fields.source } : fields.source;
  const server = typeof temp.server === "string" ? serverAddress(temp.server) : undefined;
  if (server) {
    doc.server = server;
    if (server.ip !== undefined) child(doc, "destination").ip = server.ip;
  }
  if (client?.ip !== undefined) {
    doc.network = client.ip.includes(":") ? IPV6_NETWORK : IPV4_NETWORK;
    appendRelated(doc, "ip", client.ip);
  }
  if (server?.ip !== undefined) appendRelated(doc, "ip", server.ip);
}

/**
 * A SharePoint guest's login name (`urn:spo:guest#person@domain`, also claims-encoded as
 * `i:0#.f|membership|urn:spo:guest#…`): the person is after the prefix.
 */
const SHAREPOINT_GUEST = /^(?:i:0#\.f\|membership\|)?urn:spo:guest#/i;

/**
 * An identity (user, user.target, source.user, destination.user) whose id is UPN-shaped gets its
 * email, domain and name; a SharePoint guest's are the person's, the id staying as sent.
 */
function splitIdentity(identity: unknown): void {
  if (!isMap(identity)) return;
  const id = identity.id;
  const parts = splitEmail(typeof id === "string" && SHAREPOINT_GUEST.test(id) ? id.replace(SHAREPOINT_GUEST, "") : id);
  if (!parts) return;
  identity.email = parts.email;
  identity.domain = parts.domain;
  identity.name = parts.name;
}

/** The object under `key` of a map, if there is one. */
function under(map: unknown, key: string): Doc | undefined {
  if (!isMap(map)) return undefined;
  const found = map[key];
  return isMap(found) ? found : undefined;
}

/** user.*, user.target.*, source.user.*, destination.user.* from UPN-shaped ids, and related.user. */
function mapUsers(doc: Doc, audit: Doc, present: number): void {
  const user = under(doc, "user");
  splitIdentity(user);
  splitIdentity(under(user, "target"));
  splitIdentity(under(doc.source, "user"));
  splitIdentity(under(doc.destination, "user"));
  for (const value of [user?.name, under(user, "target")?.name, under(doc, "file")?.owner]) {
    if (value !== undefined && value !== null) appendRelated(doc, "user", value);
  }
  const parameterUser = present & PARAMETERS ? getPath(audit, "Parameters.User") : undefined;
  if (!isEmpty(parameterUser)) appendRelated(doc, "user", parameterUser);
}

/** related.user / related.hosts from the fields Elastic adds for some record types. */
function mapRelatedByType(code: string | undefined, doc: Doc): void {
  const extra = code ? RELATED_BY_TYPE[code] : undefined;
  if (!extra) return;
  for (const path of extra.users) {
    for (const value of toList(getPath(doc, path))) if (typeof value === "string" && value !== "") appendRelated(doc, "user", value);
  }
  for (const path of extra.hosts) {
    const value = getPath(doc, path);
    if (typeof value === "string" && value !== "") appendRelated(doc, "hosts", value);
  }
}

/** organization.* and host.* from the tenant (named from the configured tenant domains when known) or the device. */
function mapTenant(doc: Doc, audit: Doc, context: NormalizeContext, present: number): void {
  const organization = under(doc, "organization");
  if (organization && typeof organization.id === "string") {
    // Written as Microsoft sent it; the configured tenant names are keyed in lower case.
    child(doc, "host").id = organization.id;
    // Ids usually arrive in lower case, as the names are keyed: the lower-cased copy only when that misses,
    // and no lookup at all when no names are configured (the default).
    const names = context.tenantNames;
    const name = names.size === 0 ? undefined : (names.get(organization.id) ?? names.get(organization.id.toLowerCase()));
    if (name) {
      organization.name = name;
      child(doc, "host").name = name;
    }
  }
  if (under(doc, "host")?.name === undefined) {
    const device = present & DEVICE_NAME ? audit.DeviceName : undefined;
    const name = (isEmpty(device) ? undefined : device) ?? organization?.name ?? under(doc, "user")?.domain;
    if (name !== undefined) child(doc, "host").name = name;
  }
}
