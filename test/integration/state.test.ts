import { TableClient, TableServiceClient } from "@azure/data-tables";
import { beforeAll, describe, expect, inject, it, vi } from "vitest";
import { CLAIM_SHARDS, claimPartition, RecordClaims, shardOf } from "../../shared/state/claims.js";
import { CursorStore } from "../../shared/state/cursors.js";
import { WorkLedger, LEDGER_RETENTION_DAYS } from "../../shared/state/ledger.js";
import { ensureTable } from "../../shared/state/storage.js";
import { isolatedEnv } from "../helpers/harness.js";

const T = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
let cursors: CursorStore;
let ledger: WorkLedger;
let ledgerTable: TableClient;
let claims: RecordClaims;
let service: TableServiceClient;
let claimPrefix: string;

beforeAll(async () => {
  const prefix = isolatedEnv().STATE_TABLE_PREFIX;
  const table = (name: string) => TableClient.fromConnectionString(inject("azurite"), `${prefix}${name}`, { allowInsecureConnection: true });
  const [c, l] = [table("cursors"), table("ledger")];
  await Promise.all([c, l].map(ensureTable));
  cursors = new CursorStore(c);
  ledger = new WorkLedger(l);
  ledgerTable = l;
  service = TableServiceClient.fromConnectionString(inject("azurite"), { allowInsecureConnection: true });
  claimPrefix = `${prefix}records`;
  claims = new RecordClaims(claimPrefix, (name) => TableClient.fromConnectionString(inject("azurite"), name, { allowInsecureConnection: true }), service);
});

describe("cursors (ETag optimistic concurrency)", () => {
  it("creates, then advances with the ETag it read", async () => {
    expect((await cursors.read(T, "Audit.Exchange")).cursorMs).toBeUndefined();
    const first = await cursors.advance("o365-audit", T, "Audit.Exchange", 1_000_000, undefined, 5);
    expect(first.moved).toBe(true);
    const second = await cursors.advance("o365-audit", T, "Audit.Exchange", 2_000_000, first.moved ? first.etag : undefined, 6);
    expect(second.moved).toBe(true);
    expect((await cursors.read(T, "Audit.Exchange")).cursorMs).toBe(2_000_000);
  });

  it("never moves a cursor backwards when a stale writer comes late", async () => {
    const start = await cursors.read(T, "Audit.Exchange");
    const ahead = await cursors.advance("o365-audit", T, "Audit.Exchange", 9_000_000, start.etag, 7);
    expect(ahead.moved).toBe(true);
    const stale = await cursors.advance("o365-audit", T, "Audit.Exchange", 3_000_000, start.etag, 8);
    expect(stale).toEqual({ moved: false, storedMs: 9_000_000 });
    expect((await cursors.read(T, "Audit.Exchange")).cursorMs).toBe(9_000_000);
  });

  it("lets a stale writer that is further ahead win after re-reading", async () => {
    const start = await cursors.read(T, "DLP.All");
    await cursors.advance("o365-audit", T, "DLP.All", 5_000_000, start.etag, 1);
    const result = await cursors.advance("o365-audit", T, "DLP.All", 6_000_000, start.etag, 2);
    expect(result.moved).toBe(true);
    expect((await cursors.read(T, "DLP.All")).cursorMs).toBe(6_000_000);
  });

  it("converges on the furthest cursor under concurrent advances", async () => {
    const targets = Array.from({ length: 12 }, (_, i) => 10_000_000 + i * 1000);
    await Promise.all(targets.map((to) => cursors.advance("o365-audit", T, "Audit.General", to, undefined, 0)));
    expect((await cursors.read(T, "Audit.General")).cursorMs).toBe(Math.max(...targets));
  });

  it("records a listing error without touching the cursor", async () => {
    await cursors.recordError("o365-audit", T, "Audit.General", "AF10001 denied", 99);
    const cursor = await cursors.read(T, "Audit.General");
    expect(cursor.cursorMs).toBe(10_011_000);
    expect(cursor.lastError).toBe("AF10001 denied");
  });
});

describe("work ledger", () => {
  it("records queued work once and finds it by its created window", async () => {
    const entry = { source: "o365-audit", tenantId: T, stream: "Audit.SharePoint", workId: "a$b$audit_sharepoint$Audit_SharePoint$x", created: new Date(5_000_000) };
    expect(await ledger.recordQueued(entry, 1)).toBe(true);
    expect(await ledger.recordQueued(entry, 2)).toBe(false);
    expect(await ledger.knownIds(T, "Audit.SharePoint", 4_000_000, 6_000_000)).toEqual(new Set([entry.workId]));
    expect(await ledger.knownIds(T, "Audit.SharePoint", 6_000_001, 7_000_000)).toEqual(new Set());
    await ledger.finish({ ...entry, state: "done", records: 12, durationMs: 40 });
    expect(await ledger.get(T, "Audit.SharePoint", entry.workId)).toMatchObject({ state: "done", records: 12 });
  });
});

describe("work ledger: poisoned rows and re-drive", () => {
  const blob = (workId: string) => ({ source: "o365-audit", tenantId: T, stream: "Audit.Exchange", workId, created: new Date(5_000_000), expires: new Date(9_000_000) });

  it("marks a waiting row poisoned with the error cut short, and a re-drive makes it queued again", async () => {
    const entry = blob("poison-1");
    await ledger.recordQueued(entry, 1);
    expect(await ledger.markPoisoned(entry, `boom ${"x".repeat(5_000)}`, 2)).toBe(true);
    const poisoned = await ledger.get(T, "Audit.Exchange", entry.workId);
    expect(poisoned).toMatchObject({ state: "poisoned", poisonedAt: new Date(2) });
    expect(poisoned?.error?.startsWith("boom x")).toBe(true);
    expect(poisoned?.error?.length).toBeLessThanOrEqual(2_000);
    expect(await ledger.markRedriven(entry, 3)).toBe(true);
    expect(await ledger.get(T, "Audit.Exchange", entry.workId)).toMatchObject({ state: "queued", enqueuedAt: new Date(3) });
  });

  it("never turns an outcome into poisoned, nor re-drives a row that is not poisoned", async () => {
    for (const state of ["done", "failed", "expired"] as const) {
      const entry = blob(`final-${state}`);
      await ledger.finish({ ...entry, state });
      expect(await ledger.markPoisoned(entry, "late failure of a duplicate message", 2)).toBe(false);
      expect(await ledger.markRedriven(entry, 3)).toBe(false);
      expect((await ledger.get(T, "Audit.Exchange", entry.workId))?.state).toBe(state);
    }
    const waiting = blob("still-queued");
    await ledger.recordQueued(waiting, 1);
    expect(await ledger.markRedriven(waiting, 3)).toBe(false);
    expect(await ledger.get(T, "Audit.Exchange", waiting.workId)).toMatchObject({ state: "queued", enqueuedAt: new Date(1) });
  });

  it("creates the row when the message outran the lister's write", async () => {
    const entry = blob("no-row-yet");
    expect(await ledger.markPoisoned(entry, "boom", 2)).toBe(true);
    expect(await ledger.get(T, "Audit.Exchange", entry.workId)).toMatchObject({ state: "poisoned", created: entry.created });
    // The lister's late write finds the row and leaves it poisoned.
    expect(await ledger.recordQueued(entry, 3)).toBe(false);
    expect((await ledger.get(T, "Audit.Exchange", entry.workId))?.state).toBe("poisoned");
  });
});

describe("work ledger retention", () => {
  const DAY = 86_400_000;
  const NOW = Date.parse("2026-03-20T12:00:00Z");

  it("deletes one stream's finished rows past retention in transactions of at most 100, and keeps recent rows, waiting ones and other streams", async () => {
    const cutoff = NOW - LEDGER_RETENTION_DAYS * DAY;
    const rows = (stream: string, prefix: string, count: number, createdAt: (i: number) => number) =>
      Array.from({ length: count }, (_, i) => ({ source: "o365-audit", tenantId: T, stream, workId: `${prefix}-${i}`, created: new Date(createdAt(i)) }));
    const old = rows("Audit.AzureActiveDirectory", "old", 250, (i) => cutoff - 1 - i * 60_000);
    const recent = rows("Audit.AzureActiveDirectory", "recent", 5, (i) => cutoff + i * 60_000);
    const otherStream = rows("DLP.All", "other", 3, () => cutoff - DAY);
    // Old but still waiting: backlog an operator must see, never purged.
    const [queued, poisoned] = rows("Audit.AzureActiveDirectory", "waiting", 2, () => cutoff - DAY);
    for (let i = 0; i < old.length; i += 25) await Promise.all(old.slice(i, i + 25).map((r) => ledger.finish({ ...r, state: i % 50 === 0 ? "done" : "expired" })));
    await Promise.all([...recent, ...otherStream, queued!].map((r) => ledger.recordQueued(r, 1)));
    await ledger.markPoisoned(poisoned!, "boom", 1);

    const transactions = vi.spyOn(ledgerTable, "submitTransaction");
    try {
      expect(await ledger.purge(T, "Audit.AzureActiveDirectory", NOW)).toBe(250);
      expect(transactions).toHaveBeenCalledTimes(3);
      for (const [actions] of transactions.mock.calls) expect(actions.length).toBeLessThanOrEqual(100);
    } finally {
      transactions.mockRestore();
    }
    const left = async (stream: string) => {
      const ids: string[] = [];
      for await (const entry of ledger.entries(`PartitionKey eq '${T}_${stream}'`)) ids.push(entry.workId);
      return ids.sort();
    };
    expect(await left("Audit.AzureActiveDirectory")).toEqual([...recent, queued!, poisoned!].map((r) => r.workId).sort());
    expect(await left("DLP.All")).toEqual(otherStream.map((r) => r.workId).sort());
    // A second run finds nothing more to delete.
    expect(await ledger.purge(T, "Audit.AzureActiveDirectory", NOW)).toBe(0);
  });
});

describe("record claims (one record delivered in two blobs is written once)", () => {
  it("gives each record to the first blob that claims it, and again to that blob on a retry", async () => {
    const requests = Array.from({ length: 150 }, (_, i) => ({ recordId: `r${i}`, hour: "2026-01-01T0" + (i % 3) }));
    const first = await claims.claim(T, "blob-1", requests.slice(0, 120));
    expect(first.size).toBe(120);
    const second = await claims.claim(T, "blob-2", requests.slice(100));
    expect([...second].sort()).toEqual(requests.slice(120).map((r) => r.recordId).sort());
    const retry = await claims.claim(T, "blob-1", requests.slice(0, 120));
    expect(retry.size).toBe(120);
  });

  it("spreads a tenant's hour over its partitions by the record's key, each claim where shardOf puts it", async () => {
    const hour = "2026-01-12T07";
    const requests = Array.from({ length: 400 }, (_, i) => ({ recordId: `spread${i}`, hour }));
    expect((await claims.claim(T, "blob-s", requests)).size).toBe(400);
    const table = TableClient.fromConnectionString(inject("azurite"), `${claimPrefix}20260112`, { allowInsecureConnection: true });
    const byPartition = new Map<string, string[]>();
    for await (const entity of table.listEntities<{ owner: string }>()) {
      if (!entity.rowKey?.startsWith("spread")) continue;
      byPartition.set(entity.partitionKey as string, [...(byPartition.get(entity.partitionKey as string) ?? []), entity.rowKey as string]);
    }
    expect(byPartition.size).toBe(CLAIM_SHARDS);
    for (const [partition, rowKeys] of byPartition) for (const rowKey of rowKeys) expect(partition).toBe(claimPartition(T, hour, shardOf(rowKey)));
    // Another work item's copies of the same records meet them there.
    expect((await claims.claim(T, "blob-t", requests.slice(0, 50))).size).toBe(0);
  });

  it("keeps claims in one table per day and drops the tables past retention", async () => {
    await claims.claim(T, "old", [{ recordId: "x", hour: "2026-01-01T05" }]);
    await claims.claim(T, "new", [{ recordId: "y", hour: "2026-01-12T05" }]);
    const names = async () => {
      const found: string[] = [];
      for await (const t of service.listTables()) if (t.name?.startsWith(claimPrefix)) found.push(t.name);
      return found.sort();
    };
    expect(await names()).toEqual([`${claimPrefix}20260101`, `${claimPrefix}20260112`]);
    const dropped = await claims.purge(Date.parse("2026-01-17T12:00:00Z"));
    expect(dropped).toEqual([`${claimPrefix}20260101`]);
    expect(await names()).toEqual([`${claimPrefix}20260112`]);
    // A claim for a dropped day recreates its table.
    expect(await claims.claim(T, "again", [{ recordId: "x", hour: "2026-01-01T05" }])).toEqual(new Set(["x"]));
  });
});
