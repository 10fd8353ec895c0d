import { isIP } from "node:net";
import { isoTimestamp } from "../../../ecs/dates.js";
import { asString, clearPath, type Doc, defineKey, getPath, isMap, setPath } from "../../../ecs/doc.js";
import { bitOf } from "./presence.js";
import { AIR_INVESTIGATIONS, ALERT_DATA_DATES, ALERT_DATA_KEYS, AUDIT_DATES, PLATFORMS, STRING_FIELDS, STRINGLY_JSON_FIELDS, US_QUERY_TIME } from "./tables.js";

/**
 * What stays under `o365.audit`, reshaped as Elastic keeps it: name/value lists become maps,
 * JSON text is parsed, numeric codes become strings and dates ISO 8601. A field that cannot be
 * read is named in `errors`; a date that is not one throws (the record becomes a pipeline_error).
 * `present` is the record's presence mask (presence.ts): fields whose bit is clear are not looked for.
 */
export function flattenAudit(audit: Doc, errors: string[], present: number): void {
  for (const { field, bit } of JSON_TEXT) if (present & bit) parseJsonField(audit, field, errors);
  // `Message` is an object in Copilot records but text elsewhere; one field name cannot be both.
  if (present & MESSAGE && isMap(audit.Message)) {
    audit.MessageObject = audit.Message;
    audit.Message = undefined;
  }
  if (present & ACTIONS) flattenActions(audit, errors);
  if (present & PARAMETERS) flattenNameValues(audit, "Parameters");
  if (present & EXTENDED_PROPERTIES) {
    flattenNameValues(audit, "ExtendedProperties");
    if (isMap(audit.ExtendedProperties)) parseJsonField(audit, "ExtendedProperties.additionalDetails", errors);
  }
  if (present & MODIFIED_PROPERTIES) flattenModifiedProperties(audit);
  const platform = present & PLATFORM ? asString(audit.Platform) : undefined;
  if (platform !== undefined && PLATFORMS[platform]) audit.Platform = PLATFORMS[platform];
  if (present & ALERT_LINKS && Array.isArray(audit.AlertLinks)) {
    const links = audit.AlertLinks.flatMap((link) => (isMap(link) && typeof link.AlertLinkHref === "string" && link.AlertLinkHref !== "" ? [link.AlertLinkHref] : []));
    audit.AlertLinks = links.length > 0 ? links : undefined;
  }
  for (const { field, bit } of AS_STRING) {
    if ((present & bit) === 0) continue;
    const value = asString(audit[field]);
    if (value !== undefined) audit[field] = value;
  }
  for (const { field, bit } of DATES) {
    if ((present & bit) === 0) continue;
    const value = getPath(audit, field);
    if (value === undefined || value === null || value === "") continue;
    const iso = isoTimestamp(String(value));
    if (iso === undefined) throw new Error(`${field} is not an ISO 8601 date: ${JSON.stringify(value)}`);
    clearPath(audit, field); // copies the objects on the way, so the input is not changed
    setPath(audit, field, iso);
  }
}

/** The tables' fields with the presence bits of the raw fields they are under. */
const withBits = (fields: readonly string[]) => fields.map((field) => ({ field, bit: bitOf(field) }));
const JSON_TEXT = withBits(STRINGLY_JSON_FIELDS);
const [MESSAGE, ACTIONS, PARAMETERS, EXTENDED_PROPERTIES, MODIFIED_PROPERTIES, PLATFORM, ALERT_LINKS] = ["Message", "Actions", "Parameters", "ExtendedProperties", "ModifiedProperties", "Platform", "AlertLinks"].map(bitOf) as [number, number, number, number, number, number, number];
const AS_STRING = withBits(STRING_FIELDS);
const DATES = withBits(AUDIT_DATES);

/** A field holding JSON text, parsed in place; text that is not JSON is dropped and named in error.message. */
function parseJsonField(audit: Doc, field: string, errors: string[]): void {
  const value = getPath(audit, field);
  if (typeof value !== "string") return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    errors.push(`${field} is not valid JSON: ${(error as Error).message}`);
  }
  clearPath(audit, field);
  if (parsed !== undefined) setPath(audit, field, parsed);
}

/**
 * `Actions` entries are objects, or JSON text (with `QueryTime` twice): the text ones are parsed
 * and put after the objects, as Elastic does; text that is not JSON is kept as text.
 */
function flattenActions(audit: Doc, errors: string[]): void {
  const value = audit.Actions;
  if (value === undefined || value === null || value === "") return;
  const list = Array.isArray(value) ? value : [value];
  const objects = list.filter(isMap);
  if (objects.length === list.length) {
    audit.Actions = list;
    return;
  }
  const parsed = list.flatMap((entry, index) => {
    if (typeof entry !== "string") return [];
    const text = entry.replace(US_QUERY_TIME, "");
    try {
      return [JSON.parse(text) as unknown];
    } catch (error) {
      errors.push(`Actions[${index}] is not valid JSON: ${(error as Error).message}`);
      return [text];
    }
  });
  audit.Actions = [...objects, ...parsed];
}

/** `[{Name, Value}]` → `{Name: Value}` (entries without a value dropped); a string is kept as `{_raw}`. */
function flattenNameValues(audit: Doc, field: string): void {
  const value = audit[field];
  if (typeof value === "string") {
    audit[field] = { _raw: value };
    return;
  }
  if (!Array.isArray(value)) return;
  const map: Doc = {};
  for (const entry of value) {
    if (isMap(entry) && entry.Value !== undefined && entry.Value !== null) defineKey(map, String(entry.Name), entry.Value);
  }
  audit[field] = map;
}

/** `[{Name, OldValue, NewValue}]` → `{Name_with_underscores: {OldValue, NewValue}}`; entries without both values are dropped. */
function flattenModifiedProperties(audit: Doc): void {
  const value = audit.ModifiedProperties;
  if (typeof value === "string") {
    audit.ModifiedProperties = { _raw: value };
    return;
  }
  if (!Array.isArray(value)) return;
  const map: Doc = {};
  const key = (name: unknown) => String(name).replace(/ /g, "_").replace(/\./g, "_");
  for (const entry of value) {
    if (isMap(entry) && entry.OldValue != null && entry.NewValue != null) defineKey(map, key(entry.Name), { NewValue: entry.NewValue, OldValue: entry.OldValue });
  }
  audit.ModifiedProperties = Object.keys(map).length > 0 ? map : undefined;
}

/**
 * Alert `Data` is a JSON string: kept whole under `Data.flattened`, with the documented keys
 * copied beside it, the source IP checked and the dates normalized. Throws on text that is not
 * JSON and on dates that are not dates: the record is then written as a pipeline_error.
 */
export function parseAlertData(audit: Doc, code: string | undefined): void {
  if (!("Data" in audit)) return;
  let raw = audit.Data;
  if (typeof raw === "string" && code !== undefined && AIR_INVESTIGATIONS.has(code)) raw = raw.replace(US_QUERY_TIME, "");
  const parsed: unknown = typeof raw === "string" ? JSON.parse(raw) : isMap(raw) ? { ...raw } : raw;
  const data: Doc = { flattened: parsed };
  if (isMap(parsed)) {
    for (const key of ALERT_DATA_KEYS) if (key in parsed) data[key] = parsed[key];
  }
  // An empty source IP means none: dropped from both places. One that is not an IP is dropped from
  // the copy only (the original stays in `flattened`), as Elastic's convert-or-remove does.
  if (data.sip === "") {
    delete data.sip;
    if (isMap(parsed)) delete parsed.sip;
  }
  if (data.sip !== undefined && (typeof data.sip !== "string" || isIP(data.sip) === 0)) delete data.sip;
  for (const key of ALERT_DATA_DATES) {
    if (data[key] === undefined || data[key] === null) continue;
    const iso = isoTimestamp(String(data[key]));
    if (iso === undefined) throw new Error(`Data.${key} is not an ISO 8601 date: ${JSON.stringify(data[key])}`);
    data[key] = iso;
  }
  audit.Data = data;
}
