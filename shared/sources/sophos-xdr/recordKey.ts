import { type ClaimRequest, claimOf } from "../../state/claims.js";

/** The columns a row's claim is made of; each may be missing or a placeholder in some query kinds. */
type KeyColumns = Partial<Record<"record_identifier" | "detection_identifier" | "detection_id_dedup" | "calendar_time" | "ingestion_timestamp", unknown>>;

/** A column's text, when it holds a value rather than Sophos's placeholders. */
function value(column: unknown): string | undefined {
  return typeof column === "string" && column.trim() !== "" && column !== "-" ? column : undefined;
}

/**
 * A Data Lake row's claim: its `record_identifier` (else `detection_identifier`, else `detection_id_dedup`),
 * in the hour of its own event time (`calendar_time`, else when the Data Lake ingested it). A row re-read
 * in the overlap behind the cursor is the same record and is written once. None for a row without an
 * identifier: it is written unclaimed.
 */
export function sophosXdrRecordKey(row: unknown, now: number): ClaimRequest | undefined {
  if (row === null || typeof row !== "object" || Array.isArray(row)) return undefined;
  const columns = row as KeyColumns;
  const id = value(columns.record_identifier) ?? value(columns.detection_identifier) ?? value(columns.detection_id_dedup);
  return claimOf(id, value(columns.calendar_time) ?? value(columns.ingestion_timestamp), now);
}
