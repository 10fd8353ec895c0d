import { createReadStream, readFileSync } from "node:fs";
import { TableClient, TableServiceClient } from "@azure/data-tables";
import { processWork } from "../../shared/pipeline/worker.js";
import { streamRecords } from "../../shared/pipeline/records.js";
import { RecordClaims } from "../../shared/state/claims.js";
import { WorkLedger } from "../../shared/state/ledger.js";
import { ensureTable } from "../../shared/state/storage.js";
import { FileSink } from "../../shared/sinks/file.js";
import { silentLogger } from "../../shared/util/log.js";
import { auditRecordTexts, BENCH_NOW, type BenchFeed, feedCalls, type FeedCalls, pageTexts, rowTexts } from "./workloads.js";

/**
 * Child of the worker benchmarks, one measurement per process so that each peak RSS is its own:
 * - `worker`: one work item through the worker (records → normalize → record claims → gzip → file):
 *   the audit feed's records from a content blob on disk, the other feeds' rows from pages held in
 *   memory as their page readers get them; prints records, seconds and peak RSS.
 * - `normalize`: the same records as JSON texts held in memory, and only JSON.parse + the feed's
 *   normalize + JSON.stringify timed (best of three rounds after a warm-up); prints records/s.
 */
export interface ChildTask {
  mode: "worker" | "normalize";
  feed: BenchFeed;
  /** The audit feed's content blob, and how many records it holds. */
  blob?: string;
  /** How many records (the blob's, or rows to generate). */
  records: number;
  geoipDir: string;
  outDir: string;
  connectionString: string;
  claims: "memory" | "azurite";
}

const task = JSON.parse(process.argv[2] as string) as ChildTask;
const calls = await feedCalls(task.feed, task.geoipDir);
console.log(JSON.stringify(task.mode === "worker" ? await worker(task, calls) : normalizeAlone(task, calls)));

async function worker(task: ChildTask, calls: FeedCalls) {
  const TENANT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
  const table = (name: string) => TableClient.fromConnectionString(task.connectionString, name, { allowInsecureConnection: true });
  const ledgerTable = table("benchledger");
  await ensureTable(ledgerTable);
  const fetch = task.feed === "o365-audit" ? () => streamRecords(createReadStream(task.blob as string)) : fromPages(pageTexts(task.feed, rowTexts(task.feed, task.records)), task.feed === "message-trace" ? "value" : "items");
  // Warmed up as a worker that has run for a while is: the normalizer's one-time set-up (the user-agent
  // rules) and its first compilations are no cost of one blob.
  for (const text of task.feed === "o365-audit" ? auditTexts(2_000) : rowTexts(task.feed, 2_000)) calls.toLine(JSON.parse(text));
  collectGarbage();
  const started = performance.now();
  const outcome = await processWork(
    {
      v: 2,
      source: task.feed,
      tenantId: TENANT,
      stream: "Bench",
      workId: `bench${Date.now()}`,
      created: new Date(BENCH_NOW).toISOString(),
      throttled: 0,
      item: {},
    },
    {
      feed: { name: task.feed, dataset: calls.dataset, session: { fetch: async () => fetch(), recordKey: calls.recordKey, toLine: calls.toLine, failure: () => undefined } },
      ledger: new WorkLedger(ledgerTable),
      // In memory, every record is its work item's own: the worker's path without the store's round trips.
      claims:
        task.claims === "memory"
          ? { claim: async (_tenant: string, _owner: string, requests: { recordId: string }[]) => new Set(requests.map((r) => r.recordId)) }
          : new RecordClaims(`benchrecords${process.pid}`, table, TableServiceClient.fromConnectionString(task.connectionString, { allowInsecureConnection: true })),
      sink: new FileSink(task.outDir),
      namespace: "default",
      requeue: async () => undefined,
      log: silentLogger,
      now: () => BENCH_NOW,
    },
  );
  const seconds = (performance.now() - started) / 1000;
  if (outcome.status !== "done" || outcome.records !== task.records) throw new Error(`unexpected outcome ${JSON.stringify(outcome)}`);
  return { records: outcome.records, seconds: Number(seconds.toFixed(3)), recordsPerSecond: Math.round(outcome.records / seconds), peakRssMb: peakRssMb(), outputMb: Number((outcome.bytes / 1048576).toFixed(1)) };
}

/**
 * This process's peak RSS. Linux's getrusage (process.resourceUsage().maxRSS) keeps the peak of the
 * image before exec, a fork of the bench's own process (which holds a 250 MB blob's worth of buffers by
 * then); the memory map's high-water mark (VmHWM) starts afresh at exec.
 */
function peakRssMb(): number {
  const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
  return Math.round((hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS) / 1024);
}

/** A page reader's records: each page parsed when it is read, its rows yielded one by one. */
function fromPages(pages: string[], key: string) {
  return async function* () {
    for (const page of pages) yield* (JSON.parse(page) as Record<string, unknown[]>)[key]!;
  };
}

function auditTexts(count: number): string[] {
  const texts: string[] = [];
  for (const text of auditRecordTexts()) {
    if (texts.length === count) break;
    texts.push(text);
  }
  return texts;
}

/**
 * A full collection before timing (the child runs with --expose-gc): the garbage of generating the
 * records is no cost of the path measured, and would make its collections dearer than a worker's.
 */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function normalizeAlone(task: ChildTask, calls: FeedCalls) {
  const texts = task.feed === "o365-audit" ? auditTexts(task.records) : rowTexts(task.feed, task.records);
  let checksum = 0;
  const round = () => {
    const started = performance.now();
    for (const text of texts) checksum += calls.toLine(JSON.parse(text)).line.length;
    return (performance.now() - started) / 1000;
  };
  // A warm-up on the first records, as in the normalize bench.
  for (const text of texts.slice(0, 20_000)) checksum += calls.toLine(JSON.parse(text)).line.length;
  collectGarbage();
  const best = Math.min(round(), round(), round());
  return { records: texts.length, seconds: Number(best.toFixed(3)), recordsPerSecond: Math.round(texts.length / best), checksum };
}
