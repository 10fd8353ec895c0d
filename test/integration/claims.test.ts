import { TableClient, TableServiceClient } from "@azure/data-tables";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { WorkMessage } from "../../shared/pipeline/message.js";
import { processWork, type WorkerDeps } from "../../shared/pipeline/worker.js";
import { FileSink } from "../../shared/sinks/file.js";
import { normalizeToLine } from "../../shared/sources/o365-audit/normalize/normalize.js";
import { auditRecordKey } from "../../shared/sources/o365-audit/recordKey.js";
import { RecordClaims } from "../../shared/state/claims.js";
import { WorkLedger } from "../../shared/state/ledger.js";
import { ensureTable } from "../../shared/state/storage.js";
import { isolatedEnv, recordingLogger, walk } from "../helpers/harness.js";

/**
 * Microsoft delivers content up to days late, and may deliver a record again in a later blob. The
 * claim of a record depends on the record alone, so its copies meet whatever the blobs' times.
 */
const TENANT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const H = 3_600_000;
const RECORD_TIME = Date.parse("2026-03-02T10:15:00Z");

let outputDir: string;
let deps: Omit<WorkerDeps, "feed" | "now">;

beforeAll(async () => {
  const prefix = isolatedEnv().STATE_TABLE_PREFIX;
  const connection = inject("azurite");
  const tableFor = (name: string) => TableClient.fromConnectionString(connection, name, { allowInsecureConnection: true });
  const ledgerTable = tableFor(`${prefix}ledger`);
  await ensureTable(ledgerTable);
  outputDir = await mkdtemp(join(tmpdir(), "audit-intake-claims-"));
  deps = {
    ledger: new WorkLedger(ledgerTable),
    claims: new RecordClaims(`${prefix}records`, tableFor, TableServiceClient.fromConnectionString(connection, { allowInsecureConnection: true })),
    sink: new FileSink(outputDir),
    namespace: "default",
    requeue: async () => undefined,
    log: recordingLogger(),
  };
});

afterAll(async () => {
  await rm(outputDir, { recursive: true, force: true });
});

function record(id: string, at: number): Record<string, unknown> {
  return { Id: id, CreationTime: new Date(at).toISOString().slice(0, 19), RecordType: 15, Operation: "UserLoggedIn", OrganizationId: TENANT, UserId: "a@contoso.com", Workload: "AzureActiveDirectory", ResultStatus: "Success" };
}

/** Processes one blob created at `created` carrying `records`, with the clock at `created` + 10 min. */
async function deliver(contentId: string, created: number, records: Record<string, unknown>[]) {
  const message: WorkMessage = {
    v: 2,
    source: "o365-audit",
    tenantId: TENANT,
    stream: "Audit.AzureActiveDirectory",
    workId: contentId,
    created: new Date(created).toISOString(),
    expires: new Date(created + 7 * 24 * H).toISOString(),
    throttled: 0,
    item: { contentUri: `https://manage.office.com/api/v1.0/${TENANT}/activity/feed/audit/${contentId}` },
  };
  const context = { tenantNames: new Map<string, string>(), preserveOriginal: false, now: Date.now };
  // The audit feed's own record key and mapping, with the blob's records served from memory.
  const session = {
    fetch: async () => (async function* () {
      yield records;
    })(),
    recordKey: auditRecordKey,
    toLine: (record: unknown) => normalizeToLine(record, context),
    failure: () => undefined,
  };
  return processWork(message, { ...deps, feed: { name: "o365-audit", dataset: "o365.audit", session }, now: () => created + 10 * 60_000 });
}

async function writtenIds(): Promise<string[]> {
  const ids: string[] = [];
  for (const file of await walk(outputDir)) {
    if (!file.endsWith(".ndjson.gz")) continue;
    for (const line of gunzipSync(await readFile(file)).toString("utf8").split("\n")) if (line) ids.push((JSON.parse(line) as { event: { id: string } }).event.id);
  }
  return ids.sort();
}

describe("record claims keyed by the record alone", () => {
  it("writes once a record delivered in blobs created 30 h and 6 days after it", async () => {
    const late = record("late-copy", RECORD_TIME);
    const first = await deliver("blob-30h", RECORD_TIME + 30 * H, [late, record("other-1", RECORD_TIME + 29 * H)]);
    const second = await deliver("blob-6d", RECORD_TIME + 6 * 24 * H, [late, record("other-2", RECORD_TIME + 6 * 24 * H - H)]);
    expect(first).toMatchObject({ status: "done", records: 2, duplicates: 0 });
    expect(second).toMatchObject({ status: "done", records: 1, duplicates: 1 });
    // The same blob listed again is known to the ledger and not read twice.
    expect(await deliver("blob-30h", RECORD_TIME + 30 * H, [late, record("other-1", RECORD_TIME + 29 * H)])).toMatchObject({ status: "skipped" });
    expect(await writtenIds()).toEqual(["late-copy", "other-1", "other-2"]);
  });

  it("writes once a record a blob carries twice: the store owns both copies to the blob, so the worker drops the second", async () => {
    const twice = record("twice-in-one-blob", RECORD_TIME);
    const outcome = await deliver("blob-with-a-copy", RECORD_TIME + H, [twice, record("beside-it", RECORD_TIME + 1_000), twice]);
    expect(outcome).toMatchObject({ status: "done", records: 2, duplicates: 1 });
    const ids = await writtenIds();
    expect(ids.filter((id) => id === "twice-in-one-blob")).toHaveLength(1);
    expect(ids).toContain("beside-it");
  });

  it("writes, unclaimed, a record whose clock is outside what claims can hold, instead of dropping it", async () => {
    const created = RECORD_TIME + 2 * H;
    const future = record("from-the-future", created + 400 * 24 * H);
    const ancient = record("from-the-past", created - 400 * 24 * H);
    const outcome = await deliver("blob-bogus-clocks", created, [future, ancient]);
    expect(outcome).toMatchObject({ status: "done", records: 2, duplicates: 0 });
    const ids = await writtenIds();
    expect(ids).toContain("from-the-future");
    expect(ids).toContain("from-the-past");
  });
});
