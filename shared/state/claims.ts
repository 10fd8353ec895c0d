import type { TableClient, TransactionAction } from "@azure/data-tables";
import { statusOf, tableKey } from "./storage.js";

/**
 * Record claims: Microsoft sometimes delivers the same audit record (same Id) in two content blobs.
 * The first blob to claim a record owns it; the other skips it. A claim names its blob, so a retry
 * of the same blob finds its own claims and writes the records again (idempotent, nothing lost).
 */
export interface ClaimRequest {
  recordId: string;
  /** The record's creation hour keeps partitions small and lets old claims be purged by partition. */
  hour: string;
}

const BATCH = 100; // the Table service's limit for one transaction

export class RecordClaims {
  constructor(private readonly table: TableClient) {}

  /** Returns the ids this blob owns (now or from an earlier attempt of the same blob). */
  async claim(tenantId: string, contentId: string, requests: ClaimRequest[]): Promise<Set<string>> {
    const owned = new Set<string>();
    const byPartition = new Map<string, ClaimRequest[]>();
    for (const request of requests) {
      const partition = tableKey(`${tenantId}_${request.hour}`);
      const list = byPartition.get(partition) ?? [];
      list.push(request);
      byPartition.set(partition, list);
    }
    for (const [partitionKey, list] of byPartition) {
      const unique = [...new Map(list.map((r) => [r.recordId, r])).values()];
      for (let i = 0; i < unique.length; i += BATCH) {
        const chunk = unique.slice(i, i + BATCH);
        const actions: TransactionAction[] = chunk.map((r) => ["create", { partitionKey, rowKey: tableKey(r.recordId), contentId }]);
        try {
          await this.table.submitTransaction(actions);
          for (const r of chunk) owned.add(r.recordId);
        } catch (error) {
          // One existing claim fails the whole transaction: settle each record on its own.
          if (statusOf(error) !== 409 && statusOf(error) !== 400) throw error;
          await Promise.all(chunk.map(async (r) => {
            if (await this.claimOne(partitionKey, r.recordId, contentId)) owned.add(r.recordId);
          }));
        }
      }
    }
    return owned;
  }

  private async claimOne(partitionKey: string, recordId: string, contentId: string): Promise<boolean> {
    try {
      await this.table.createEntity({ partitionKey, rowKey: tableKey(recordId), contentId });
      return true;
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      const existing = await this.table.getEntity<{ contentId: string }>(partitionKey, tableKey(recordId));
      return existing.contentId === contentId;
    }
  }
}
