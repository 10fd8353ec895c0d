import { type ClaimRequest, claimOf } from "../../state/claims.js";

/**
 * What a Graph row's claim is made of (learn.microsoft.com/graph/api/resources/exchangemessagetrace): `id`
 * is the message's trace, shared by its recipients, so a row is one message × one recipient × one status.
 * Read with plain checks: this runs once per row, on the worker's hot path.
 */
type KeyColumns = Partial<Record<"id" | "recipientAddress" | "status" | "receivedDateTime", unknown>>;

const text = (value: unknown): value is string => typeof value === "string" && value !== "";

/**
 * A message-trace row's claim: `{id}|{recipientAddress}|{status}` in the hour it was received. A row
 * re-read in the overlap is the same record and is written once; a row whose status moved on (pending,
 * then delivered) is a new one. The recipient is kept as Graph wrote it: its documentation says nothing
 * of its case, and lowercasing could merge two rows into one record, while keeping it can at worst write
 * a row twice. None for a row without all four parts: it is written unclaimed.
 */
export function messageTraceRecordKey(row: unknown, now: number): ClaimRequest | undefined {
  if (row === null || typeof row !== "object" || Array.isArray(row)) return undefined;
  const { id, recipientAddress, status, receivedDateTime } = row as KeyColumns;
  if (!text(id) || !text(recipientAddress) || !text(status)) return undefined;
  return claimOf(`${id}|${recipientAddress}|${status}`, receivedDateTime, now);
}
