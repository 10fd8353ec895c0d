import { isIP } from "node:net";
import { asString, type Doc, defineKey, isMap } from "./doc.js";
import { ALERT_DATA_DATES, ALERT_DATA_KEYS, PLATFORMS, STRING_FIELDS, STRINGLY_JSON_FIELDS } from "./tables.js";

/**
 * What stays under `o365.audit`, reshaped as Elastic keeps it: name/value lists become maps,
 * numeric codes become strings, and alert `Data` (a JSON string) becomes an object.
 */
export function flattenAudit(audit: Doc, errors: string[]): void {
  for (const field of STRINGLY_JSON_FIELDS) {
    if (typeof audit[field] !== "string") continue;
    try {
      audit[field] = JSON.parse(audit[field] as string);
    } catch (error) {
      audit[field] = undefined;
      errors.push(`${field} is not valid JSON: ${(error as Error).message}`);
    }
  }
  // `Message` is an object in Copilot records but text elsewhere; one field name cannot be both.
  if (isMap(audit.Message)) {
    audit.MessageObject = audit.Message;
    audit.Message = undefined;
  }
  flattenNameValues(audit, "Parameters");
  flattenNameValues(audit, "ExtendedProperties");
  flattenModifiedProperties(audit);
  const platform = asString(audit.Platform);
  if (platform !== undefined && PLATFORMS[platform]) audit.Platform = PLATFORMS[platform];
  if (Array.isArray(audit.AlertLinks)) {
    const links = audit.AlertLinks.flatMap((link) => (isMap(link) && typeof link.AlertLinkHref === "string" && link.AlertLinkHref !== "" ? [link.AlertLinkHref] : []));
    audit.AlertLinks = links.length > 0 ? links : undefined;
  }
  for (const field of STRING_FIELDS) {
    const value = asString(audit[field]);
    if (value !== undefined) audit[field] = value;
  }
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
 * copied beside it, the source IP checked and the dates normalized.
 */
export function parseAlertData(audit: Doc): void {
  if (!("Data" in audit)) return;
  const raw = audit.Data;
  const parsed: unknown = typeof raw === "string" ? JSON.parse(raw) : isMap(raw) ? { ...raw } : raw;
  const data: Doc = { flattened: parsed };
  if (isMap(parsed)) {
    for (const key of ALERT_DATA_KEYS) if (key in parsed) data[key] = parsed[key];
  }
  // An empty source IP means none: dropped from both places rather than failing the record.
  if (data.sip === "") {
    delete data.sip;
    if (isMap(parsed)) delete parsed.sip;
  }
  if (data.sip !== undefined && (typeof data.sip !== "string" || isIP(data.sip) === 0)) throw new Error(`Data.sip is not an IP address: ${JSON.stringify(data.sip)}`);
  for (const key of ALERT_DATA_DATES) {
    if (data[key] === undefined || data[key] === null) continue;
    const ms = Date.parse(String(data[key]));
    if (Number.isNaN(ms)) throw new Error(`Data.${key} is not an ISO 8601 date: ${JSON.stringify(data[key])}`);
    data[key] = new Date(ms).toISOString();
  }
  audit.Data = data;
}
