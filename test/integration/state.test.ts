import { TableClient, TableServiceClient } from "@azure/data-tables";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { RecordClaims } from "../../shared/state/claims.js";
import { CursorStore } from "../../shared/state/cursors.js";
import { ContentLedger } from "../../shared/state/ledger.js";
import { ensureTable } from "../../shared/state/storage.js";
import { isolatedEnv } from "../helpers/harness.js";

const T = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
let cursors: CursorStore;
let ledger: ContentLedger;
let claims: RecordClaims;
let service: TableServiceClient;
let claimPrefix: string;

beforeAll(async () => {
  const prefix = isolatedEnv().STATE_TABLE_PREFIX;
  const table = (name: string) => TableClient.fromConnectionString(inject("azurite"), `${prefix}${name}`, { allowInsecureConnection: true });
  const [c, l] = [table("cursors"), table("ledger")];
  await Promise.all([c, l].map(ensureTable));
  cursors = new CursorStore(c);
  ledger = new ContentLedger(l);
  service = TableServiceClient.fromConnectionString(inject("azurite"), { allowInsecureConnection: true });
  claimPrefix = `${prefix}records`;
  claims = new RecordClaims(claimPrefix, (name) => TableClient.fromConnectionString(inject("azurite"), name, { allowInsecureConnection: true }), service);
});

describe("cursors (ETag optimistic concurrency)", () => {
  it("creates, then advances with the ETag it read", async () => {
    expect((await cursors.read(T, "Audit.Exchange")).cursorMs).toBeUndefined();
    const first = await cursors.advance(T, "Audit.Exchange", 1_000_000, undefined, 5);
    expect(first.moved).toBe(true);
    const second = await cursors.advance(T, "Audit.Exchange", 2_000_000, first.moved ? first.etag : undefined, 6);
    expect(second.moved).toBe(true);
    expect((await cursors.read(T, "Audit.Exchange")).cursorMs).toBe(2_000_000);
  });

  it("never moves a cursor backwards when a stale writer comes late", async () => {
    const start = await cursors.read(T, "Audit.Exchange");
    const ahead = await cursors.advance(T, "Audit.Exchange", 9_000_000, start.etag, 7);
    expect(ahead.moved).toBe(true);
    const stale = await cursors.advance(T, "Audit.Exchange", 3_000_000, start.etag, 8);
    expect(stale).toEqual({ moved: false, storedMs: 9_000_000 });
    expect((await cursors.read(T, "Audit.Exchange")).cursorMs).toBe(9_000_000);
  });

  it("lets a stale writer that is further ahead win after re-reading", async () => {
    const start = await cursors.read(T, "DLP.All");
    await cursors.advance(T, "DLP.All", 5_000_000, start.etag, 1);
    const result = await cursors.advance(T, "DLP.All", 6_000_000, start.etag, 2);
    expect(result.moved).toBe(true);
    expect((await cursors.read(T, "DLP.All")).cursorMs).toBe(6_000_000);
  });

  it("converges on the furthest cursor under concurrent advances", async () => {
    const targets = Array.from({ length: 12 }, (_, i) => 10_000_000 + i * 1000);
    await Promise.all(targets.map((to) => cursors.advance(T, "Audit.General", to, undefined, 0)));
    expect((await cursors.read(T, "Audit.General")).cursorMs).toBe(Math.max(...targets));
  });

  it("records a listing error without touching the cursor", async () => {
    await cursors.recordError(T, "Audit.General", "AF10001 denied", 99);
    const cursor = await cursors.read(T, "Audit.General");
    expect(cursor.cursorMs).toBe(10_011_000);
    expect(cursor.lastError).toBe("AF10001 denied");
  });
});

describe("content ledger", () => {
  it("records queued content once and finds it by contentCreated window", async () => {
    const entry = { tenantId: T, contentType: "Audit.SharePoint", contentId: "a$b$audit_sharepoint$Audit_SharePoint$x", contentCreated: new Date(5_000_000) };
    expect(await ledger.recordQueued(entry, 1)).toBe(true);
    expect(await ledger.recordQueued(entry, 2)).toBe(false);
    expect(await ledger.knownIds(T, "Audit.SharePoint", 4_000_000, 6_000_000)).toEqual(new Set([entry.contentId]));
    expect(await ledger.knownIds(T, "Audit.SharePoint", 6_000_001, 7_000_000)).toEqual(new Set());
    await ledger.finish({ ...entry, state: "done", records: 12, durationMs: 40 });
    expect(await ledger.get(T, "Audit.SharePoint", entry.contentId)).toMatchObject({ state: "done", records: 12 });
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
