import { type ClaimRequest, claimOf } from "../../state/claims.js";

/**
 * An audit record's claim: its Id and its own CreationTime's hour. Microsoft sometimes delivers one
 * record (one Id) in two content blobs, days apart; keyed by the record alone, the copies meet.
 */
export function auditRecordKey(record: unknown, now: number): ClaimRequest | undefined {
  if (record === null || typeof record !== "object") return undefined;
  const { Id: id, CreationTime: created } = record as { Id?: unknown; CreationTime?: unknown };
  return claimOf(id, created, now);
}
