import { createReadStream } from "node:fs";
import { TableClient, TableServiceClient } from "@azure/data-tables";
import { processContent } from "../../shared/pipeline/worker.js";
import { RecordClaims } from "../../shared/state/claims.js";
import { ContentLedger } from "../../shared/state/ledger.js";
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
const outcome = await processContent(
  {
    v: 1,
    tenantId: TENANT,
    contentType: "Audit.General",
    contentId: `bench${Date.now()}`,
    contentUri: `https://manage.office.com/api/v1.0/${TENANT}/activity/feed/audit/bench`,
    contentCreated: new Date().toISOString(),
    contentExpiration: new Date(Date.now() + 86_400_000).toISOString(),
    throttled: 0,
  },
  {
    api: { openContent: async () => createReadStream(blob) },
    ledger: new ContentLedger(ledgerTable),
    // In memory, every record is its blob's own: the worker's path without the store's round trips
    // (Azurite's batch transactions would make a 250 MB run take most of an hour).
    claims:
      claimsKind === "memory"
        ? { claim: async (_tenant: string, _content: string, requests: { recordId: string }[]) => new Set(requests.map((r) => r.recordId)) }
        : new RecordClaims("benchrecords", table, TableServiceClient.fromConnectionString(connectionString, { allowInsecureConnection: true })),
    sink: new FileSink(outDir),
    requeue: async () => undefined,
    normalizeContext: { tenantNames: new Map(), preserveOriginal: false, now: Date.now },
    log: silentLogger,
    now: Date.now,
  },
);
if (outcome.status !== "done") throw new Error(`unexpected outcome ${JSON.stringify(outcome)}`);
console.log(JSON.stringify({ records: outcome.records, seconds: Number(((performance.now() - started) / 1000).toFixed(1)), peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
