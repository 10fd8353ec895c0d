import type { TableClient } from "@azure/data-tables";
import { statusOf, tableKey } from "./storage.js";

/**
 * Per tenant and stream, the end of the last listing window whose work was all enqueued. Streams are
 * unique across feeds, so (tenant, stream) is the key; the row also names its feed, for status.
 * Writes are guarded by the row's ETag so that two overlapping listers never move a cursor back.
 */
export interface Cursor {
  cursorMs: number | undefined;
  etag: string | undefined;
  lastError: string | undefined;
  lastListedAt: number | undefined;
}

interface CursorEntity {
  partitionKey: string;
  rowKey: string;
  source?: string;
  cursor: string;
  lastListedAt?: string;
  lastError?: string;
  lastErrorAt?: string;
}

function toCursor(entity: CursorEntity & { etag?: string }): Cursor {
  return {
    cursorMs: entity.cursor ? Date.parse(entity.cursor) : undefined,
    etag: entity.etag,
    lastError: entity.lastError || undefined,
    lastListedAt: entity.lastListedAt ? Date.parse(entity.lastListedAt) : undefined,
  };
}

export type AdvanceResult = { moved: true; etag: string } | { moved: false; storedMs: number };

export class CursorStore {
  constructor(private readonly table: TableClient) {}

  async read(tenantId: string, stream: string): Promise<Cursor> {
    try {
      return toCursor(await this.table.getEntity<CursorEntity>(tableKey(tenantId), tableKey(stream)));
    } catch (error) {
      if (statusOf(error) === 404) return { cursorMs: undefined, etag: undefined, lastError: undefined, lastListedAt: undefined };
      throw error;
    }
  }

  /**
   * Moves the cursor to `toMs` unless the stored one is already there or further.
   * On an ETag conflict it re-reads and decides again, so concurrent runs converge on the furthest cursor.
   */
  async advance(source: string, tenantId: string, stream: string, toMs: number, etag: string | undefined, now: number): Promise<AdvanceResult> {
    let currentEtag = etag;
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const entity: CursorEntity = {
        partitionKey: tableKey(tenantId),
        rowKey: tableKey(stream),
        source,
        cursor: new Date(toMs).toISOString(),
        lastListedAt: new Date(now).toISOString(),
        lastError: "",
      };
      try {
        const response = currentEtag
          ? await this.table.updateEntity(entity, "Merge", { etag: currentEtag })
          : await this.table.createEntity(entity);
        return { moved: true, etag: response.etag as string };
      } catch (error) {
        const status = statusOf(error);
        if (status !== 412 && status !== 409) throw error;
        const stored = await this.read(tenantId, stream);
        if (stored.cursorMs !== undefined && stored.cursorMs >= toMs) return { moved: false, storedMs: stored.cursorMs };
        currentEtag = stored.etag;
      }
    }
    throw new Error(`cursor ${tenantId}/${stream}: too many concurrent updates`);
  }

  /** The last listing error, for the status endpoint; it does not move the cursor. */
  async recordError(source: string, tenantId: string, stream: string, message: string, now: number): Promise<void> {
    await this.table.upsertEntity(
      { partitionKey: tableKey(tenantId), rowKey: tableKey(stream), source, lastError: message.slice(0, 1000), lastErrorAt: new Date(now).toISOString() },
      "Merge",
    );
  }

  /** Every cursor row, for the status endpoint. */
  async *all(): AsyncGenerator<{ source: string | undefined; tenantId: string; stream: string } & Cursor> {
    for await (const entity of this.table.listEntities<CursorEntity>()) {
      yield { source: entity.source, tenantId: entity.partitionKey, stream: entity.rowKey, ...toCursor(entity) };
    }
  }
}
