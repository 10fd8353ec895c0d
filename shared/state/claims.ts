import type { TableClient, TableServiceClient, TransactionAction } from "@azure/data-tables";
import pLimit from "p-limit";
import { ensureTable, statusOf, tableKey } from "./storage.js";

/**
 * Record claims: an API may deliver the same record twice (the audit feed: one Id in two content
 * blobs; time-window feeds: a row in two overlapping windows). The first work item to claim a record
 * owns it; the other skips it. A claim names its work item, so a retry of the same item finds its own
 * claims and writes the records again (idempotent, nothing lost).
 *
 * A claim is keyed by the record alone: its tenant, its key and its own hour, never the work item
 * that carries it, so two copies meet however far apart Microsoft delivers them. Claims live in one
 * table per UTC day of the record's time (`{prefix}{yyyyMMdd}`); whole tables past the retention are
 * dropped, which costs one call instead of one delete per record. Within a day's table, a tenant's
 * hour is spread over CLAIM_SHARDS partitions by a hash of the record's key (see shardOf).
 */
export interface ClaimRequest {
  recordId: string;
  /** The record's creation hour, `yyyy-MM-ddTHH`: picks the day table and the partition. */
  hour: string;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/**
 * How long a claim must outlive its record: content stays listable 7 days after Microsoft creates it,
 * and Microsoft guarantees no latency between a record and the blob that carries it (days happen), so
 * a copy may still come 7 + 7 days after the record; one more day covers clock skew and the purge's
 * whole-day rounding.
 */
export const CLAIM_RETENTION_DAYS = 15;
/** Keys longer than this are not claimed: a row key holds at most 1 KiB once escaped. */
const MAX_RECORD_ID = 512;
/** A record claiming to come from further ahead than this has a bogus clock. */
const FUTURE_TOLERANCE_MS = DAY_MS;

/**
 * The claim of one record, from its own key and its own time (ISO, at least to the hour). None for a
 * record without a key (nothing to match copies by) or whose time is outside what the claims can hold:
 * older than the retention (its table would be dropped before a copy could meet it) or in the future
 * (a bogus clock must not create tables no purge reaches for years). Such records are written
 * unclaimed: never lost, and no copy of them can come while the API still lists them.
 */
export function claimOf(recordId: unknown, time: unknown, now: number): ClaimRequest | undefined {
  if (typeof recordId !== "string" || recordId === "" || recordId.length > MAX_RECORD_ID) return undefined;
  if (typeof time !== "string" || !/^\d{4}-\d{2}-\d{2}T\d{2}/.test(time)) return undefined;
  const hour = time.slice(0, 13);
  const hourMs = Date.parse(`${hour}:00:00Z`);
  // The oldest hour whose day table the purge keeps for at least one more day.
  const oldest = Math.floor(now / DAY_MS) * DAY_MS - (CLAIM_RETENTION_DAYS - 1) * DAY_MS;
  if (Number.isNaN(hourMs) || hourMs < oldest || hourMs > now + FUTURE_TOLERANCE_MS) return undefined;
  return { recordId, hour };
}

const BATCH = 100; // the Table service's limit for one transaction
const PARALLEL_TRANSACTIONS = 8;

/**
 * Partitions per tenant and hour. Azure's scalability target for one table partition is 2,000 entities
 * a second (learn.microsoft.com/azure/storage/tables/scalability-targets), and one worker maps 35,000-45,000
 * records a second: in one partition, a tenant's hour of backlog could not be claimed faster than 2,000
 * records a second, however many instances work it. Eight partitions allow 16,000, near the account's
 * own target of 20,000 entities a second, and keep a batch of 500 claims at eight transactions, which
 * go out at once.
 */
export const CLAIM_SHARDS = 8;

/**
 * The partition of a record's claim among its tenant's hour's CLAIM_SHARDS: FNV-1a of the key's UTF-16
 * code units. It must never change while claims made with it are kept (CLAIM_RETENTION_DAYS): a copy of
 * a record claimed under another function would look in another partition and be written again.
 */
export function shardOf(recordId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < recordId.length; i += 1) hash = Math.imul(hash ^ recordId.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % CLAIM_SHARDS;
}

/** The partition key of a claim: tenant, hour (`yyyy-MM-ddTHH`) and shard. */
export function claimPartition(tenantId: string, hour: string, shard: number): string {
  return tableKey(`${tenantId}_${hour}_${shard}`);
}

export class RecordClaims {
  private readonly ready = new Map<string, Promise<TableClient>>();

  constructor(
    private readonly prefix: string,
    private readonly tableFor: (name: string) => TableClient,
    private readonly service: TableServiceClient,
  ) {}

  /** Returns the ids `owner` (a work item: `{stream}/{workId}`) owns, now or from an earlier attempt of the same item. */
  async claim(tenantId: string, owner: string, requests: ClaimRequest[]): Promise<Set<string>> {
    const owned = new Set<string>();
    const groups = new Map<string, { day: string; partitionKey: string; requests: Map<string, ClaimRequest> }>();
    for (const request of requests) {
      const shard = shardOf(request.recordId);
      const key = `${request.hour}_${shard}`;
      const group = groups.get(key) ?? { day: request.hour.slice(0, 10).replace(/-/g, ""), partitionKey: claimPartition(tenantId, request.hour, shard), requests: new Map() };
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
      const actions: TransactionAction[] = chunk.map((r) => ["create", { partitionKey, rowKey: tableKey(r.recordId), owner }]);
      try {
        await table.submitTransaction(actions);
        for (const r of chunk) owned.add(r.recordId);
      } catch (error) {
        // One existing claim fails the whole transaction: settle each record on its own.
        if (statusOf(error) !== 409 && statusOf(error) !== 400) throw error;
        await Promise.all(
          chunk.map(async (r) => {
            if (await claimOne(table, partitionKey, r.recordId, owner)) owned.add(r.recordId);
          }),
        );
      }
    })));
    return owned;
  }

  /** Drops day tables older than the retention; returns the names dropped. */
  async purge(now: number): Promise<string[]> {
    const cutoff = new Date(now - CLAIM_RETENTION_DAYS * DAY_MS).toISOString().slice(0, 10).replace(/-/g, "");
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

async function claimOne(table: TableClient, partitionKey: string, recordId: string, owner: string): Promise<boolean> {
  try {
    await table.createEntity({ partitionKey, rowKey: tableKey(recordId), owner });
    return true;
  } catch (error) {
    if (statusOf(error) !== 409) throw error;
    const existing = await table.getEntity<{ owner: string }>(partitionKey, tableKey(recordId));
    return existing.owner === owner;
  }
}
