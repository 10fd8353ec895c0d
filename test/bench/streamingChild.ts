import { createReadStream } from "node:fs";
import { TableClient, TableServiceClient } from "@azure/data-tables";
import { processWork } from "../../shared/pipeline/worker.js";
import { streamRecords } from "../../shared/pipeline/records.js";
import { normalizeToLine } from "../../shared/sources/o365-audit/normalize/normalize.js";
import { auditRecordKey } from "../../shared/sources/o365-audit/recordKey.js";
import { RecordClaims } from "../../shared/state/claims.js";
import { WorkLedger } from "../../shared/state/ledger.js";
import { ensureTable } from "../../shared/state/storage.js";
import { FileSink } from "../../shared/sinks/file.js";
import { silentLogger } from "../../shared/util/log.js";

/** Child of the streaming benchmark: one content blob through the worker, then its peak RSS. */
const [blob, outDir, connectionString, claimsKind] = process.argv.slice(2) as [string, string, string, "azurite" | "memory"];
const TENANT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const table = (name: string) => TableClient.fromConnectionString(connectionString, name, { allowInsecureConnection: true });
const ledgerTable = table("benchledger");
await ensureTable(ledgerTable);
const started = performance.now();
const context = { tenantNames: new Map<string, string>(), preserveOriginal: false, now: Date.now };
const outcome = await processWork(
  {
    v: 2,
    source: "o365-audit",
    tenantId: TENANT,
    stream: "Audit.General",
    workId: `bench${Date.now()}`,
    created: new Date().toISOString(),
    expires: new Date(Date.now() + 86_400_000).toISOString(),
    throttled: 0,
    item: { contentUri: `https://manage.office.com/api/v1.0/${TENANT}/activity/feed/audit/bench` },
  },
  {
    // The audit feed's session with its blob read from a file: the worker's path without the network.
    feed: {
      name: "o365-audit",
      dataset: "o365.audit",
      session: {
        fetch: async () => streamRecords(createReadStream(blob)),
        recordKey: auditRecordKey,
        toLine: (record) => normalizeToLine(record, context),
        failure: () => undefined,
      },
    },
    ledger: new WorkLedger(ledgerTable),
    // In memory, every record is its blob's own: the worker's path without the store's round trips
    // (Azurite's batch transactions would make a 250 MB run take most of an hour).
    claims:
      claimsKind === "memory"
        ? { claim: async (_tenant: string, _content: string, requests: { recordId: string }[]) => new Set(requests.map((r) => r.recordId)) }
        : new RecordClaims("benchrecords", table, TableServiceClient.fromConnectionString(connectionString, { allowInsecureConnection: true })),
    sink: new FileSink(outDir),
    requeue: async () => undefined,
    log: silentLogger,
    now: Date.now,
  },
);
if (outcome.status !== "done") throw new Error(`unexpected outcome ${JSON.stringify(outcome)}`);
console.log(JSON.stringify({ records: outcome.records, seconds: Number(((performance.now() - started) / 1000).toFixed(1)), peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
