import type { TableClient, TableServiceClient, TransactionAction } from "@azure/data-tables";
import pLimit from "p-limit";
import { ensureTable, statusOf, tableKey } from "./storage.js";

/**
 * Record claims: Microsoft sometimes delivers the same audit record (same Id) in two content blobs.
 * The first blob to claim a record owns it; the other skips it. A claim names its blob, so a retry
 * of the same blob finds its own claims and writes the records again (idempotent, nothing lost).
 *
 * Claims live in one table per UTC day (`{prefix}{yyyyMMdd}`): a copy can only arrive while the API
 * still lists content (7 days), so whole tables older than that are dropped, which costs one call
 * instead of one delete per record.
 */
export interface ClaimRequest {
  recordId: string;
  /** The record's creation hour, `yyyy-MM-ddTHH`: picks the day table and the partition. */
  hour: string;
}

const BATCH = 100; // the Table service's limit for one transaction
const PARALLEL_TRANSACTIONS = 8;
export const CLAIM_RETENTION_DAYS = 8;

export class RecordClaims {
  private readonly ready = new Map<string, Promise<TableClient>>();

  constructor(
    private readonly prefix: string,
    private readonly tableFor: (name: string) => TableClient,
    private readonly service: TableServiceClient,
  ) {}

  /** Returns the ids this blob owns (now or from an earlier attempt of the same blob). */
  async claim(tenantId: string, contentId: string, requests: ClaimRequest[]): Promise<Set<string>> {
    const owned = new Set<string>();
    const groups = new Map<string, { day: string; partitionKey: string; requests: Map<string, ClaimRequest> }>();
    for (const request of requests) {
      const key = `${request.hour}`;
      const group = groups.get(key) ?? { day: request.hour.slice(0, 10).replace(/-/g, ""), partitionKey: tableKey(`${tenantId}_${request.hour}`), requests: new Map() };
      group.requests.set(request.recordId, request);
      groups.set(key, group);
    }
    const chunks: { table: TableClient; partitionKey: string; chunk: ClaimRequest[] }[] = [];
    for (const { day, partitionKey, requests: unique } of groups.values()) {
      const table = await this.table(day);
      const list = [...unique.values()];
      for (let i = 0; i < list.length; i += BATCH) chunks.push({ table, partitionKey, chunk: list.slice(i, i + BATCH) });
    }
    // Transactions of different chunks are independent: a few at once hide the round trips.
    const limit = pLimit(PARALLEL_TRANSACTIONS);
    await Promise.all(chunks.map(({ table, partitionKey, chunk }) => limit(async () => {
      const actions: TransactionAction[] = chunk.map((r) => ["create", { partitionKey, rowKey: tableKey(r.recordId), contentId }]);
      try {
        await table.submitTransaction(actions);
        for (const r of chunk) owned.add(r.recordId);
      } catch (error) {
        // One existing claim fails the whole transaction: settle each record on its own.
        if (statusOf(error) !== 409 && statusOf(error) !== 400) throw error;
        await Promise.all(
          chunk.map(async (r) => {
            if (await claimOne(table, partitionKey, r.recordId, contentId)) owned.add(r.recordId);
          }),
        );
      }
    })));
    return owned;
  }

  /** Drops day tables older than the retention; returns the names dropped. */
  async purge(now: number): Promise<string[]> {
    const cutoff = new Date(now - CLAIM_RETENTION_DAYS * 86_400_000).toISOString().slice(0, 10).replace(/-/g, "");
    const dropped: string[] = [];
    const pattern = new RegExp(`^${this.prefix}(\\d{8})$`);
    for await (const table of this.service.listTables()) {
      const day = table.name ? pattern.exec(table.name)?.[1] : undefined;
      if (day && day < cutoff) {
        await this.service.deleteTable(table.name as string);
        this.ready.delete(day);
        dropped.push(table.name as string);
      }
    }
    return dropped;
  }

  private table(day: string): Promise<TableClient> {
    let table = this.ready.get(day);
    if (!table) {
      const client = this.tableFor(`${this.prefix}${day}`);
      table = ensureTable(client).then(() => client);
      table.catch(() => this.ready.delete(day));
      this.ready.set(day, table);
    }
    return table;
  }
}

async function claimOne(table: TableClient, partitionKey: string, recordId: string, contentId: string): Promise<boolean> {
  try {
    await table.createEntity({ partitionKey, rowKey: tableKey(recordId), contentId });
    return true;
  } catch (error) {
    if (statusOf(error) !== 409) throw error;
    const existing = await table.getEntity<{ contentId: string }>(partitionKey, tableKey(recordId));
    return existing.contentId === contentId;
  }
}
