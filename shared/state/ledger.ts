import { odata, type TableClient, type TransactionAction } from "@azure/data-tables";
import { statusOf, tableKey } from "./storage.js";

/**
 * The work ledger: one row per work item listed in the last days (a content blob, a time window),
 * keyed by tenant, stream and work id. The lister writes `queued` after enqueueing (so a crash in
 * between re-enqueues rather than loses); the worker moves the row to `done`, `failed` or `expired`. A message whose last
 * allowed attempt failed is `poisoned` (it sits in `<queue>-poison`) until `redrive` makes it `queued`
 * again. Rows the API can no longer list are purged by the lister.
 */
export type LedgerState = "queued" | "done" | "failed" | "expired" | "poisoned";

export interface LedgerEntry {
  /** The feed, for status and re-drive (the keys below are unique without it: streams are unique across feeds). */
  source: string;
  tenantId: string;
  stream: string;
  workId: string;
  state: LedgerState;
  created: Date;
  expires?: Date;
  enqueuedAt?: Date;
  finishedAt?: Date;
  poisonedAt?: Date;
  records?: number;
  duplicates?: number;
  pipelineErrors?: number;
  bytes?: number;
  durationMs?: number;
  attempts?: number;
  output?: string;
  error?: string;
  /** For work done in steps (submit a query run, poll it, read it): the step it waits at. */
  step?: string;
}

interface LedgerEntity extends LedgerEntry {
  partitionKey: string;
  rowKey: string;
}

/** A row as the ledger's callers see it: without the table's own keys and bookkeeping. */
function toEntry({ partitionKey: _p, rowKey: _r, etag: _e, timestamp: _t, ...entry }: LedgerEntity & { etag?: string; timestamp?: string }): LedgerEntry {
  return entry as LedgerEntry;
}

export const ledgerPartition = (tenantId: string, stream: string) => tableKey(`${tenantId}_${stream}`);

/**
 * How long a row is kept, by its `created`: the lister only asks about work it may list again (the
 * audit feed's content: 7 days back, plus its one-hour slack), so an older row answers nothing any more. Shorter
 * than the record claims' retention, which must outlive the latest copy of a record, not the listing.
 */
export const LEDGER_RETENTION_DAYS = 8;

export type LedgerKeys = Pick<LedgerEntry, "source" | "tenantId" | "stream" | "workId" | "created" | "expires">;

/** The Table service's limit for one transaction. */
const TRANSACTION_LIMIT = 100;
/** Longer errors are cut: a row's property holds at most 64 KiB, and the start says what went wrong. */
const MAX_ERROR_LENGTH = 2_000;
/** Read-modify-write rounds before giving up on a row that keeps changing under us. */
const MAX_CONFLICTS = 5;
/** A poisoned row may only come from a row still waiting; an outcome the worker recorded stands. */
const POISONABLE: ReadonlySet<LedgerState> = new Set(["queued", "poisoned"]);
const REDRIVABLE: ReadonlySet<LedgerState> = new Set(["poisoned"]);

export class WorkLedger {
  constructor(private readonly table: TableClient) {}

  /**
   * Ids of the work already ledgered whose `created` falls in [from, to]:
   * one query per listing window instead of one read per listed item.
   */
  async knownIds(tenantId: string, stream: string, from: number, to: number): Promise<Set<string>> {
    const ids = new Set<string>();
    const filter = odata`PartitionKey eq ${ledgerPartition(tenantId, stream)} and created ge ${new Date(from)} and created le ${new Date(to)}`;
    for await (const entity of this.table.listEntities<{ workId: string }>({ queryOptions: { filter, select: ["workId"] } })) {
      ids.add(entity.workId);
    }
    return ids;
  }

  /** Records freshly enqueued work; an existing row (another lister got there first) is left as it is. */
  async recordQueued(entry: LedgerKeys, now: number): Promise<boolean> {
    try {
      await this.table.createEntity<LedgerEntity>({
        ...this.keys(entry),
        ...stripUndefined(entry),
        state: "queued",
        enqueuedAt: new Date(now),
      });
      return true;
    } catch (error) {
      if (statusOf(error) === 409) return false;
      throw error;
    }
  }

  async get(tenantId: string, stream: string, workId: string): Promise<LedgerEntry | undefined> {
    try {
      return toEntry(await this.table.getEntity<LedgerEntity>(ledgerPartition(tenantId, stream), tableKey(workId)));
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Final (or failed) outcome of a work item; upsert, because a message may arrive before its ledger row. */
  async finish(entry: LedgerEntry): Promise<void> {
    await this.table.upsertEntity<LedgerEntity>({ ...this.keys(entry), ...stripUndefined(entry) }, "Merge");
  }

  /**
   * The message's last allowed attempt failed: it goes to the poison queue, and the row says so
   * unless the item already has an outcome (a duplicate message of finished work). Returns
   * whether the row is now `poisoned`.
   */
  async markPoisoned(entry: LedgerKeys, error: string, now: number): Promise<boolean> {
    const text = error.length > MAX_ERROR_LENGTH ? `${error.slice(0, MAX_ERROR_LENGTH - 1)}…` : error;
    return this.transition(entry, POISONABLE, { state: "poisoned", poisonedAt: new Date(now), error: text });
  }

  /** The message was re-driven from the poison queue: its row waits again (only a poisoned or missing row). */
  async markRedriven(entry: LedgerKeys, now: number): Promise<boolean> {
    return this.transition(entry, REDRIVABLE, { state: "queued", enqueuedAt: new Date(now) });
  }

  /**
   * Deletes one stream's rows past the retention: work no listing asks about again. One query for the keys, then transactions of up to 100 deletes (one
   * partition). Run after each listing, it finds only the rows that aged out since the last one.
   * Returns how many rows went.
   */
  async purge(tenantId: string, stream: string, now: number): Promise<number> {
    const partitionKey = ledgerPartition(tenantId, stream);
    const cutoff = new Date(now - LEDGER_RETENTION_DAYS * 86_400_000);
    // Only outcomes: a row still waiting (queued, poisoned) is backlog an operator must see, however old.
    const filter = odata`PartitionKey eq ${partitionKey} and created lt ${cutoff} and state ne ${"queued"} and state ne ${"poisoned"}`;
    let actions: TransactionAction[] = [];
    let deleted = 0;
    const flush = async () => {
      await this.table.submitTransaction(actions);
      deleted += actions.length;
      actions = [];
    };
    for await (const entity of this.table.listEntities({ queryOptions: { filter, select: ["rowKey"] } })) {
      actions.push(["delete", { partitionKey, rowKey: entity.rowKey as string }]);
      if (actions.length === TRANSACTION_LIMIT) await flush();
    }
    if (actions.length > 0) await flush();
    return deleted;
  }

  async *entries(filter?: string): AsyncGenerator<LedgerEntry> {
    for await (const entity of this.table.listEntities<LedgerEntity>(filter ? { queryOptions: { filter } } : {})) yield toEntry(entity);
  }

  private keys(entry: Pick<LedgerEntry, "tenantId" | "stream" | "workId">) {
    return { partitionKey: ledgerPartition(entry.tenantId, entry.stream), rowKey: tableKey(entry.workId) };
  }

  /**
   * Moves a row to a new state only from one of `from`, creating it when missing (its message may
   * have outrun the lister's write). Guarded by the row's ETag, so a worker recording an outcome for
   * the same blob at the same moment wins instead of being overwritten.
   */
  private async transition(entry: LedgerKeys, from: ReadonlySet<LedgerState>, change: Partial<LedgerEntity>): Promise<boolean> {
    const keys = this.keys(entry);
    for (let round = 0; round < MAX_CONFLICTS; round += 1) {
      let current: (LedgerEntity & { etag: string }) | undefined;
      try {
        current = await this.table.getEntity<LedgerEntity>(keys.partitionKey, keys.rowKey);
      } catch (error) {
        if (statusOf(error) !== 404) throw error;
      }
      try {
        if (!current) {
          await this.table.createEntity<LedgerEntity>({ ...keys, ...stripUndefined(entry), state: "queued", ...change });
          return true;
        }
        if (!from.has(current.state)) return false;
        await this.table.updateEntity({ ...keys, ...change }, "Merge", { etag: current.etag });
        return true;
      } catch (error) {
        // 409: created meanwhile; 412: changed meanwhile. Either way, decide again on what is there now.
        if (statusOf(error) !== 409 && statusOf(error) !== 412) throw error;
      }
    }
    throw new Error(`ledger row ${entry.tenantId}/${entry.stream}/${entry.workId} kept changing; gave up after ${MAX_CONFLICTS} attempts`);
  }
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
