import { odata, type TableClient } from "@azure/data-tables";
import { statusOf, tableKey } from "./storage.js";

/**
 * The content ledger: one row per content blob ever listed, keyed by tenant, content type and contentId.
 * The lister writes `queued` after enqueueing (so a crash in between re-enqueues rather than loses);
 * the worker moves the row to `done`, `failed` or `expired`.
 */
export type LedgerState = "queued" | "done" | "failed" | "expired";

export interface LedgerEntry {
  tenantId: string;
  contentType: string;
  contentId: string;
  state: LedgerState;
  contentCreated: Date;
  contentExpiration?: Date;
  enqueuedAt?: Date;
  finishedAt?: Date;
  records?: number;
  duplicates?: number;
  pipelineErrors?: number;
  bytes?: number;
  durationMs?: number;
  attempts?: number;
  output?: string;
  error?: string;
}

interface LedgerEntity extends Omit<LedgerEntry, "tenantId" | "contentType" | "contentId"> {
  partitionKey: string;
  rowKey: string;
  tenantId: string;
  contentType: string;
  contentId: string;
}

/** A row as the ledger's callers see it: without the table's own keys and bookkeeping. */
function toEntry({ partitionKey: _p, rowKey: _r, etag: _e, timestamp: _t, ...entry }: LedgerEntity & { etag?: string; timestamp?: string }): LedgerEntry {
  return entry as LedgerEntry;
}

export const ledgerPartition = (tenantId: string, contentType: string) => tableKey(`${tenantId}_${contentType}`);

export class ContentLedger {
  constructor(private readonly table: TableClient) {}

  /**
   * Ids of the content already ledgered whose contentCreated falls in [from, to]:
   * one query per listing window instead of one read per listed blob.
   */
  async knownIds(tenantId: string, contentType: string, from: number, to: number): Promise<Set<string>> {
    const ids = new Set<string>();
    const filter = odata`PartitionKey eq ${ledgerPartition(tenantId, contentType)} and contentCreated ge ${new Date(from)} and contentCreated le ${new Date(to)}`;
    for await (const entity of this.table.listEntities<{ contentId: string }>({ queryOptions: { filter, select: ["contentId"] } })) {
      ids.add(entity.contentId);
    }
    return ids;
  }

  /** Records freshly enqueued content; an existing row (another lister got there first) is left as it is. */
  async recordQueued(entry: Pick<LedgerEntry, "tenantId" | "contentType" | "contentId" | "contentCreated" | "contentExpiration">, now: number): Promise<boolean> {
    try {
      await this.table.createEntity<LedgerEntity>({
        ...this.keys(entry),
        ...entry,
        state: "queued",
        enqueuedAt: new Date(now),
      });
      return true;
    } catch (error) {
      if (statusOf(error) === 409) return false;
      throw error;
    }
  }

  async get(tenantId: string, contentType: string, contentId: string): Promise<LedgerEntry | undefined> {
    try {
      return toEntry(await this.table.getEntity<LedgerEntity>(ledgerPartition(tenantId, contentType), tableKey(contentId)));
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Final (or failed) outcome of a blob; upsert, because a message may arrive before its ledger row. */
  async finish(entry: LedgerEntry): Promise<void> {
    await this.table.upsertEntity<LedgerEntity>({ ...this.keys(entry), ...stripUndefined(entry) }, "Merge");
  }

  async *entries(filter?: string): AsyncGenerator<LedgerEntry> {
    for await (const entity of this.table.listEntities<LedgerEntity>(filter ? { queryOptions: { filter } } : {})) yield toEntry(entity);
  }

  private keys(entry: Pick<LedgerEntry, "tenantId" | "contentType" | "contentId">) {
    return { partitionKey: ledgerPartition(entry.tenantId, entry.contentType), rowKey: tableKey(entry.contentId) };
  }
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
