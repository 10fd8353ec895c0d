import { isIP } from "node:net";
import { isoTimestamp } from "../../ecs/dates.js";
import { defineKey, type Doc, getPath, isMap, setPath } from "../../ecs/doc.js";
import { documentLine, ECS_VERSION, type EcsDocument, pipelineErrorDocument, PRESERVE_ORIGINAL_TAG, withDataStream } from "../../ecs/document.js";
import type { GeoLookup } from "../../ecs/geoip.js";
import {
  CATEGORIZATION,
  type ColumnMap,
  COLUMNS,
  FAMILIES,
  type Family,
  HIVES,
  JSON_COLUMNS,
  type Kind,
  LIST_COLUMNS,
  MITRE_FRAMEWORK,
  MITRE_SOURCE,
  OS_TYPES,
  PLACEHOLDERS,
  RELATED,
} from "./fields.js";

/**
 * normalizeSophosXdr(row, context) turns one Sophos Central XDR Data Lake `xdr_ioc_view` row (one IOC
 * detection on one endpoint) into an ECS 8.11 document: the ECS fields where Sekoia's Sophos intake puts
 * them (its tests fix the choices), the MITRE ATT&CK entries the row names under threat.*, and every other
 * column under `sophos.xdr.<column>` (see fields.ts). It never throws: input that is not a row is written
 * as `event.kind: pipeline_error` with the original, and a row with an unreadable column keeps the rest of
 * its mapping and is flagged so, as the message-trace feed does.
 */
export interface SophosXdrContext {
  /** Ingest time, for rows whose time cannot be read. */
  now: () => number;
  /** data_stream.namespace (default `default`). */
  namespace?: string;
  /** Keep the raw row as `event.original`. */
  preserveOriginal: boolean;
  /** The row's text as received, kept verbatim as event.original. */
  originalText?: string;
  /** GeoIP and ASN lookups, for the endpoint's public address when the row carries no location of its own. */
  geoip?: GeoLookup;
}

/** The data stream this feed's documents go to. */
export const SOPHOS_XDR_DATASET = "sophos_central.xdr_ioc";

const ECS = Object.freeze({ version: ECS_VERSION });

export function normalizeSophosXdr(row: unknown, context: SophosXdrContext): EcsDocument {
  try {
    if (!isMap(row)) return sophosXdrPipelineError(row, `row is ${describeType(row)}, not an object`, context);
    return withDataStream(SOPHOS_XDR_DATASET, context.namespace ?? "default")(mapRow(row, context));
  } catch (error) {
    return sophosXdrPipelineError(row, error instanceof Error ? error.message : String(error), context);
  }
}

/** normalizeSophosXdr() and JSON in one step: one NDJSON line, size-checked as every feed's are. */
export function normalizeSophosXdrToLine(row: unknown, context: SophosXdrContext): { line: string; pipelineError: boolean } {
  return documentLine(row, context, normalizeSophosXdr, sophosXdrPipelineError);
}

/** The shared pipeline_error document, in this feed's data stream. */
export function sophosXdrPipelineError(original: unknown, message: string, context: SophosXdrContext): EcsDocument {
  return withDataStream(SOPHOS_XDR_DATASET, context.namespace ?? "default")(pipelineErrorDocument(original, message, context));
}

/** The row's columns as read: placeholders dropped, JSON parsed, lists split; refused columns are left out. */
type Values = Map<string, unknown>;

function mapRow(row: Doc, context: SophosXdrContext): EcsDocument {
  const errors: string[] = [];
  const values = readColumns(row, errors);
  const used = new Set<string>();
  const doc: Doc = { "@timestamp": undefined, ecs: ECS, event: { kind: "alert" } };

  const family = familyOf(values);
  for (const map of [...(family?.columns ?? []), ...COLUMNS]) writeColumn(doc, values, map, used, errors);
  for (const step of DERIVED) step(doc, values, used, context);
  categorize(doc, values);

  const vendor: Doc = {};
  for (const [column, value] of values) if (!used.has(column)) defineKey(vendor, column, value);
  if (Object.keys(vendor).length > 0) setPath(doc, "sophos.xdr", vendor);
  relate(doc);

  if (doc["@timestamp"] === undefined) {
    doc["@timestamp"] = new Date(context.now()).toISOString();
    errors.push(`the row has no time: none of ${TIME_COLUMNS.join(", ")}`);
  }
  const event = doc.event as Doc;
  if (context.preserveOriginal || errors.length > 0) {
    event.original = context.originalText ?? JSON.stringify(row);
    doc.tags = [PRESERVE_ORIGINAL_TAG];
  }
  if (errors.length > 0) {
    // Mapped, but something in it could not be read: flagged, original kept.
    event.kind = "pipeline_error";
    doc.error = { message: errors };
  }
  return doc;
}

const TIME_COLUMNS = COLUMNS.filter(([, , ...to]) => to.includes("@timestamp")).map(([column]) => column);

// ---------------------------------------------------------------------------------------------------
// Reading the row

function readColumns(row: Doc, errors: string[]): Values {
  const values: Values = new Map();
  for (const [column, raw] of Object.entries(row)) {
    try {
      const value = readColumn(column, raw);
      if (value !== undefined) values.set(column, value);
    } catch (error) {
      errors.push(`${column}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return values;
}

function readColumn(column: string, raw: unknown): unknown {
  const value = withoutPlaceholders(raw);
  if (value === undefined) return undefined;
  const shape = own(JSON_COLUMNS, column);
  if (shape !== undefined) return parseJsonColumn(value, shape);
  const list = own(LIST_COLUMNS, column);
  if (list !== undefined && typeof value === "string") return splitList(value, list);
  return value;
}

/** A JSON-in-text column: parsed, of the expected shape, placeholders inside dropped. Already parsed values are taken as they are. */
function parseJsonColumn(value: unknown, shape: "object" | "array"): unknown {
  let parsed: unknown = value;
  if (typeof value === "string") {
    try {
      parsed = JSON.parse(value);
    } catch (error) {
      throw new Error(`not JSON (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  const fits = shape === "array" ? Array.isArray(parsed) : isMap(parsed);
  if (!fits) throw new Error(`JSON ${describeType(parsed)}, not ${shape === "array" ? "an array" : "an object"}`);
  return withoutPlaceholders(parsed);
}

function splitList(text: string, kind: "split" | "epochs"): unknown {
  const items = text.split(",").map((item) => item.trim()).filter((item) => !PLACEHOLDERS.has(item));
  if (kind === "split") return items.length > 0 ? items : undefined;
  const dates = items.map((item) => {
    const seconds = /^\d{1,12}$/.test(item) ? Number(item) : Number.NaN;
    const at = new Date(seconds * 1000);
    if (Number.isNaN(at.getTime())) throw new Error(`"${item}" is not a Unix time`);
    return at.toISOString();
  });
  return dates.length > 0 ? dates : undefined;
}

const MAX_DEPTH = 32;

/** Placeholders (`-`, "", null) and containers left empty by dropping them are absent; everything else is copied without them. */
function withoutPlaceholders(value: unknown, depth = 0): unknown {
  if (value === null || (typeof value === "string" && PLACEHOLDERS.has(value))) return undefined;
  if (typeof value !== "object") return value;
  if (depth >= MAX_DEPTH) throw new Error(`nested more than ${MAX_DEPTH} levels deep`);
  if (Array.isArray(value)) {
    const kept = value.map((item) => withoutPlaceholders(item, depth + 1)).filter((item) => item !== undefined);
    return kept.length > 0 ? kept : undefined;
  }
  const kept: Doc = {};
  for (const [key, child] of Object.entries(value)) {
    const cleaned = withoutPlaceholders(child, depth + 1);
    if (cleaned !== undefined) defineKey(kept, key, cleaned);
  }
  return Object.keys(kept).length > 0 ? kept : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Columns → ECS fields

function familyOf(values: Values): Family | undefined {
  const query = values.get("query_name");
  if (typeof query !== "string") return undefined;
  return FAMILIES.find((family) => family.query.test(query) && (family.requires === undefined || values.has(family.requires)));
}

type Read = { value: unknown } | { error: string } | undefined;

const READERS: Readonly<Record<Kind, (value: unknown) => Read>> = {
  text: (value) => (typeof value === "string" ? { value } : typeof value === "number" || typeof value === "boolean" ? { value: String(value) } : { error: `is ${describeType(value)}, not text` }),
  number: (value) => {
    const n = typeof value === "number" ? value : typeof value === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : Number.NaN;
    return Number.isFinite(n) ? { value: n } : { error: `${JSON.stringify(value)} is not a number` };
  },
  date: (value) => {
    const at = isoTimestamp(value);
    return at !== undefined ? { value: at } : { error: `${JSON.stringify(value)} is not a date` };
  },
  // A text column in Sophos' schema: a value that is no score is not an error of the row, it is kept under sophos.xdr.
  cvss: (value) => {
    const score = READERS.number(value);
    return score && "value" in score && (score.value as number) >= 0 && (score.value as number) <= 10 ? score : undefined;
  },
  // Not an address: not an error of the row, the column is kept as it is under sophos.xdr.
  ip: (value) => (typeof value === "string" && isIP(value) !== 0 ? { value } : undefined),
  flag: (value) => {
    const flag = own(FLAGS, String(value).toLowerCase());
    return flag !== undefined && (typeof value === "string" || typeof value === "number" || typeof value === "boolean") ? { value: flag } : { error: `${JSON.stringify(value)} is not a flag` };
  },
  strings: (value) => {
    const text = READERS.text(value);
    return text && "value" in text ? { value: [text.value] } : text;
  },
};

const FLAGS: Readonly<Record<string, boolean>> = { "1": true, "0": false, true: true, false: false };

/**
 * One table entry: the column's value, read as its kind, into each of its fields not yet written. A value
 * that cannot be read is reported once and the column is left out (kept as is, it would give one field two
 * types across documents).
 */
function writeColumn(doc: Doc, values: Values, [column, kind, ...to]: ColumnMap, used: Set<string>, errors: string[]): void {
  if (!values.has(column)) return;
  const read = READERS[kind](values.get(column));
  if (read === undefined) return;
  if ("error" in read) {
    errors.push(`${column} ${read.error}`);
    values.delete(column);
    return;
  }
  for (const path of to) {
    if (getPath(doc, path) !== undefined) continue;
    setPath(doc, path, read.value);
    used.add(column);
  }
}

/** The mappings that take more than one column, or a column's content apart: in this order, after the tables. */
type Step = (doc: Doc, values: Values, used: Set<string>, context: SophosXdrContext) => void;

const DERIVED: readonly Step[] = [geoLocation, geoFromDatabase, references, mitreAttack, eventSpan, codeSignature, fileParts, executableNames, registryHive, osType];

/** source.geo.location from the row's latitude and longitude of the public address, when both are in range. */
function geoLocation(doc: Doc, values: Values, used: Set<string>): void {
  const lat = coordinate(values.get("meta_public_ip_latitude"), 90);
  const lon = coordinate(values.get("meta_public_ip_longitude"), 180);
  if (lat === undefined || lon === undefined) return;
  setPath(doc, "source.geo.location", { lat, lon });
  used.add("meta_public_ip_latitude").add("meta_public_ip_longitude");
}

function coordinate(value: unknown, limit: number): number | undefined {
  const n = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : Number.NaN;
  return Number.isFinite(n) && Math.abs(n) <= limit ? n : undefined;
}

/**
 * The row's own location of the public address (Sophos looked it up) is the one written; with none,
 * the GeoIP databases are asked about the public address, or else the endpoint's address. AS numbers
 * are never in the row, so they come from the database whenever it knows the address.
 */
function geoFromDatabase(doc: Doc, _values: Values, _used: Set<string>, context: SophosXdrContext): void {
  if (!context.geoip) return;
  const ip = [getPath(doc, "source.nat.ip"), getPath(doc, "source.ip")].find((value): value is string => typeof value === "string");
  if (ip === undefined) return;
  const { geo, as } = context.geoip.lookup(ip);
  if (geo && getPath(doc, "source.geo") === undefined) setPath(doc, "source.geo", { ...geo });
  if (as) setPath(doc, "source.as", { ...as });
}

/** The detection's references: vulnerability.reference and rule.reference (one value, or a list of several). */
function references(doc: Doc, values: Values, used: Set<string>): void {
  const list = values.get("ioc_detection_references");
  if (!Array.isArray(list)) return;
  const urls = [...new Set(list.filter((item): item is string => typeof item === "string"))];
  if (urls.length === 0 || urls.length !== list.length) return; // anything else in it: kept as it is under sophos.xdr
  const value = urls.length === 1 ? urls[0] : urls;
  setPath(doc, "vulnerability.reference", value);
  setPath(doc, "rule.reference", value);
  used.add("ioc_detection_references");
}

/**
 * threat.* from ioc_detection_mitre_attack: `[{"tactic":{"id","name","external_references":[…],
 * "techniques":[{"id","name","external_references":[…]}]}}]`. A sub-technique (`T1547.009`) goes to
 * threat.technique.subtechnique.* with its parent's id as threat.technique.id (the row does not name the
 * parent). With no entries, the tactic-technique pairs of ioc_event_ttp_summary (`TA0003-T1547.009`) give
 * the ids alone.
 */
function mitreAttack(doc: Doc, values: Values, used: Set<string>): void {
  const threat = new ThreatFields();
  const entries = values.get("ioc_detection_mitre_attack");
  if (Array.isArray(entries)) {
    for (const entry of entries) {
      const tactic = isMap(entry) ? entry.tactic : undefined;
      if (!isMap(tactic)) continue;
      threat.add("tactic", tactic.id, tactic.name, mitreUrl(tactic));
      for (const technique of Array.isArray(tactic.techniques) ? tactic.techniques : []) {
        if (isMap(technique)) threat.addTechnique(technique.id, technique.name, mitreUrl(technique));
      }
    }
    if (!threat.isEmpty()) used.add("ioc_detection_mitre_attack");
  }
  const summary = values.get("ioc_event_ttp_summary");
  if (threat.isEmpty() && typeof summary === "string") {
    for (const [, tactic, technique] of summary.matchAll(/\b(TA\d{4})-(T\d{4}(?:\.\d{3})?)\b/g)) {
      threat.add("tactic", tactic, undefined, undefined);
      threat.addTechnique(technique, undefined, undefined);
    }
  }
  threat.writeTo(doc);
}

function mitreUrl(item: Doc): string | undefined {
  const refs = Array.isArray(item.external_references) ? item.external_references : [];
  const mitre = refs.find((ref) => isMap(ref) && ref.source_name === MITRE_SOURCE && typeof ref.url === "string");
  return isMap(mitre) ? (mitre.url as string) : undefined;
}

/** threat.{tactic,technique,technique.subtechnique}.{id,name,reference} as lists without repeats. */
class ThreatFields {
  private readonly lists = new Map<string, string[]>();

  add(group: "tactic" | "technique" | "technique.subtechnique", id: unknown, name: unknown, reference: unknown): void {
    for (const [key, value] of [
      ["id", id],
      ["name", name],
      ["reference", reference],
    ] as const) {
      if (typeof value !== "string" || value === "") continue;
      const path = `threat.${group}.${key}`;
      const list = this.lists.get(path) ?? [];
      if (!list.includes(value)) list.push(value);
      this.lists.set(path, list);
    }
  }

  addTechnique(id: unknown, name: unknown, reference: unknown): void {
    const sub = typeof id === "string" ? /^(T\d{4})\.\d{3}$/.exec(id) : null;
    if (sub) {
      this.add("technique", sub[1], undefined, undefined);
      this.add("technique.subtechnique", id, name, reference);
    } else {
      this.add("technique", id, name, reference);
    }
  }

  isEmpty(): boolean {
    return this.lists.size === 0;
  }

  writeTo(doc: Doc): void {
    if (this.isEmpty()) return;
    setPath(doc, "threat.framework", MITRE_FRAMEWORK);
    for (const [path, list] of this.lists) setPath(doc, path, list);
  }
}

/** event.start and event.end: the first and last of the summarized events' times. */
function eventSpan(doc: Doc, values: Values): void {
  const times = values.get("event_timestamps");
  if (!Array.isArray(times) || times.length === 0) return;
  const sorted = [...(times as string[])].sort();
  setPath(doc, "event.start", sorted[0]);
  setPath(doc, "event.end", sorted[sorted.length - 1]);
}

/** process.code_signature from Sophos' reputation data of the image: signed or not, the first signer, whether it verified. */
function codeSignature(doc: Doc, values: Values): void {
  const data = values.get("process_local_rep_signers") ?? values.get("local_rep_data");
  const reputation = isMap(data) && isMap(data.reputationData) ? data.reputationData : undefined;
  if (!reputation) return;
  const signer = Array.isArray(reputation.signerInfo) ? reputation.signerInfo.find(isMap) : undefined;
  const signature: [string, unknown][] = [
    ["exists", typeof reputation.isSigned === "number" ? reputation.isSigned === 1 : undefined],
    ["subject_name", typeof signer?.signer === "string" ? signer.signer : undefined],
    ["valid", typeof signer?.isValid === "number" ? signer.isValid === 1 : undefined],
  ];
  for (const [key, value] of signature) {
    if (value !== undefined && getPath(doc, ["process", "code_signature", key]) === undefined) setPath(doc, ["process", "code_signature", key], value);
  }
}

/** file.directory and file.name from file.path (Windows or POSIX separators), where the row gives neither. */
function fileParts(doc: Doc): void {
  const path = getPath(doc, "file.path");
  if (typeof path !== "string") return;
  const parts = splitPath(path);
  if (parts.directory !== undefined && getPath(doc, "file.directory") === undefined) setPath(doc, "file.directory", parts.directory);
  if (parts.name !== undefined && getPath(doc, "file.name") === undefined) setPath(doc, "file.name", parts.name);
}

/** process.name and process.parent.name from their executables, where the row does not name them. */
function executableNames(doc: Doc): void {
  for (const process of ["process", "process.parent"]) {
    const executable = getPath(doc, `${process}.executable`);
    if (typeof executable !== "string" || getPath(doc, `${process}.name`) !== undefined) continue;
    const { name } = splitPath(executable);
    if (name !== undefined) setPath(doc, `${process}.name`, name);
  }
}

function splitPath(path: string): { directory?: string; name?: string } {
  const at = Math.max(path.lastIndexOf("\\"), path.lastIndexOf("/"));
  if (at < 0) return { name: path };
  return { ...(at > 0 ? { directory: path.slice(0, at) } : {}), ...(at < path.length - 1 ? { name: path.slice(at + 1) } : {}) };
}

/** registry.hive from the hive a key (or path) starts with. */
function registryHive(doc: Doc): void {
  for (const field of ["registry.key", "registry.path"]) {
    const text = getPath(doc, field);
    if (typeof text !== "string") continue;
    const hive = HIVES.find(([prefix]) => text.toUpperCase().startsWith(prefix) && /^$|^[\\/]/.test(text.slice(prefix.length)));
    if (hive) {
      setPath(doc, "registry.hive", hive[1]);
      return;
    }
  }
}

function osType(doc: Doc): void {
  const platform = getPath(doc, "host.os.platform");
  if (typeof platform === "string" && OS_TYPES.has(platform.toLowerCase())) setPath(doc, "host.os.type", platform.toLowerCase());
}

/** event.category, event.type, event.action and event.outcome from the first rule of CATEGORIZATION that fits. */
function categorize(doc: Doc, values: Values): void {
  const eventid = Number(values.get("eventid"));
  const query = values.get("query_name");
  const detection = values.get("ioc_detection_category");
  const rule = CATEGORIZATION.find(
    (r) =>
      (r.eventid === undefined || r.eventid === eventid) &&
      (r.query === undefined || (typeof query === "string" && r.query.test(query))) &&
      (r.detectionCategory === undefined || (typeof detection === "string" && detection.toLowerCase() === r.detectionCategory)),
  );
  if (!rule) return;
  const event = doc.event as Doc;
  event.category = [...rule.category];
  event.type = [...rule.type];
  if (rule.action !== undefined) event.action = rule.action;
  if (rule.outcome !== undefined) event.outcome = rule.outcome;
}

/** related.* from the fields RELATED names, sorted, without repeats. */
function relate(doc: Doc): void {
  for (const [target, sources] of Object.entries(RELATED)) {
    const found = new Set<string>();
    for (const source of sources) {
      const value = getPath(doc, source);
      for (const item of Array.isArray(value) ? value : [value]) if (typeof item === "string" && item !== "") found.add(item);
    }
    if (found.size > 0) setPath(doc, target, [...found].sort());
  }
}

/** A table's own entry: a row's key may be `constructor` or `__proto__`, which a plain lookup would find on Object.prototype. */
function own<V>(table: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

function describeType(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  return /^[aeiou]/.test(typeof value) ? `an ${typeof value}` : `a ${typeof value}`;
}
