import type { Offline, OfflineMapper } from "../source.js";
import { normalizeSophosXdrToLine, type SophosXdrContext, sophosXdrPipelineError } from "./normalize.js";

/**
 * `audit-intake normalize --source sophos-xdr`: Data Lake `xdr_ioc_view` rows, one by one, as arrays, or as
 * saved results pages (`{"items":[…],"pages":{…}}`), which are unwrapped.
 */
export const sophosXdrOffline: Offline = {
  input: "Sophos Central XDR Data Lake xdr_ioc_view rows (saved results pages unwrapped)",
  options: {},
  mapper: (_values, context) => sophosXdrMapper({ ...context }),
};

export function sophosXdrMapper(context: SophosXdrContext): OfflineMapper {
  return {
    records: sophosXdrRows,
    line: (row) => normalizeSophosXdrToLine(row, context).line,
    pipelineError: (text, message) => sophosXdrPipelineError(text, message, context),
  };
}

/** The rows of one value of an export: a results page's items, an array's elements, or the value itself. */
export function sophosXdrRows(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (value !== null && typeof value === "object" && Array.isArray((value as { items?: unknown }).items)) return (value as { items: unknown[] }).items;
  return [value];
}
