import { createReadStream, readFileSync, writeFileSync } from "node:fs";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { TableClient, TableServiceClient } from "@azure/data-tables";
import { Agent } from "undici";
import { LineBatch } from "../../shared/pipeline/lineBatch.js";
import { CONTENT_CHUNK_BYTES, streamRecords } from "../../shared/pipeline/records.js";
import { JsonSplitter, type SplitItem } from "../../shared/pipeline/split.js";
import { processWork, type WorkerDeps } from "../../shared/pipeline/worker.js";
import { DEFAULT_GZIP_LEVEL } from "../../shared/sinks/gzipWriter.js";
import { RecordClaims } from "../../shared/state/claims.js";
import { WorkLedger } from "../../shared/state/ledger.js";
import { ensureTable } from "../../shared/state/storage.js";
import { FileSink } from "../../shared/sinks/file.js";
import { silentLogger } from "../../shared/util/log.js";
import { applyWorkerV8Flags } from "../../shared/util/v8Flags.js";
import { parseSettings } from "../../shared/config/settings.js";
import { RequestGate } from "../../shared/http/gate.js";
import { isNextStep, type RecordBatches } from "../../shared/sources/source.js";
import { o365AuditSource } from "../../shared/sources/o365-audit/source.js";
import type { O365AuditConfig } from "../../shared/sources/o365-audit/settings.js";
import { auditRecordTexts, BENCH_CONTENT_ID, BENCH_NOW, BENCH_TENANT_ID, BENCH_WARM_UP_ID, type BenchFeed, feedCalls, type FeedCalls, pageRows, pageTexts, rowTexts } from "./workloads.js";

/**
 * Child of the worker benchmarks, one measurement per process so that each peak RSS is its own:
 * - `worker`: one work item through the worker (records → normalize → record claims → gzip → file),
 *   the process's second: the audit feed's records from a content blob on disk, the other feeds' rows
 *   from pages held in memory as their page readers get them; prints records, seconds and peak RSS.
 * - `normalize`: the same records as JSON texts held in memory, and only JSON.parse + the feed's
 *   normalize + JSON.stringify timed (best of three rounds after a warm-up); prints records/s.
 * - `stages`: the path's stages on the same records, each timed alone, and the worker's loop timed as
 *   one; prints each stage's seconds.
 */
export interface ChildTask {
  mode: "worker" | "normalize" | "stages";
  feed: BenchFeed;
  /** The audit feed's content blob, and how many records it holds. */
  blob?: string;
  /** How many records (the blob's, or rows to generate). */
  records: number;
  geoipDir: string;
  outDir: string;
  connectionString: string;
  claims: "memory" | "azurite";
  /** The output's gzip level (OUTPUT_GZIP_LEVEL); the sinks' default when absent. */
  gzipLevel?: number;
  /** The audit blob downloaded from the bench's content server through the feed's own client, instead of read from disk. */
  download?: ContentDownload;
}

/** Where the bench's content server (contentServer.ts) answers, and the credentials its simulator accepts. */
export interface ContentDownload {
  apiBaseUrl: string;
  loginBaseUrl: string;
  ca: string;
  clientId: string;
  clientSecret: string;
}

const task = JSON.parse(process.argv[2] as string) as ChildTask;
// As the runtime sets them before a worker process's first item: both children, as the Functions worker runs.
applyWorkerV8Flags();
const calls = await feedCalls(task.feed, task.geoipDir);
console.log(JSON.stringify(task.mode === "worker" ? await worker(task, calls) : task.mode === "stages" ? stages(task, calls) : normalizeAlone(task, calls)));

async function worker(task: ChildTask, calls: FeedCalls) {
  const table = (name: string) => TableClient.fromConnectionString(task.connectionString, name, { allowInsecureConnection: true });
  const ledgerTable = table("benchledger");
  await ensureTable(ledgerTable);
  // The file stands for the content download, which the audit client hands on in pieces of CONTENT_CHUNK_BYTES.
  const fetch = task.download
    ? await contentDownload(task.download, BENCH_TENANT_ID)
    : task.feed === "o365-audit"
      ? () => streamRecords(createReadStream(task.blob as string, { highWaterMark: CONTENT_CHUNK_BYTES }))
      : pageRecords(task.feed, task.records);
  const work = (workId: string, fetched: () => RecordBatches | Promise<RecordBatches>, claims: WorkerDeps["claims"], outDir: string) =>
    processWork(
      {
        v: 2,
        source: task.feed,
        tenantId: BENCH_TENANT_ID,
        stream: "Bench",
        workId,
        created: new Date(BENCH_NOW).toISOString(),
        throttled: 0,
        item: {},
      },
      {
        feed: { name: task.feed, dataset: calls.dataset, session: { fetch: async () => fetched(), recordKey: calls.recordKey, toLine: (record, _work, text) => calls.toLine(record, text), failure: () => undefined } },
        ledger: new WorkLedger(ledgerTable),
        claims,
        sink: new FileSink(outDir, task.gzipLevel !== undefined ? { gzipLevel: task.gzipLevel } : {}),
        namespace: "default",
        requeue: async () => undefined,
        log: silentLogger,
        now: () => BENCH_NOW,
      },
    );
  // In memory, every record is its work item's own: the worker's path without the store's round trips.
  const inMemory: WorkerDeps["claims"] = { claim: async (_tenant, _owner, requests) => new Set(requests.map((r) => r.recordId)) };
  // Measured as the process's second item, as a worker that has run for a while works its items: the
  // normalizer's one-time set-up and first compilations, and the garbage collector's first decisions,
  // belong to the first (WORKER_V8_FLAGS says what differs from the second item on). The first item is
  // 20,000 of the same records (claimed in memory, so that the measured item's claims are its own).
  const warmUp = await work(`warmup${Date.now()}`, warmUpRecords(task.feed), inMemory, `${task.outDir}-warm-up`);
  if (warmUp.status !== "done") throw new Error(`unexpected warm-up outcome ${JSON.stringify(warmUp)}`);
  collectGarbage();
  resetPeakRss();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const outcome = await work(
    `bench${Date.now()}`,
    fetch,
    task.claims === "memory" ? inMemory : new RecordClaims(`benchrecords${process.pid}`, table, TableServiceClient.fromConnectionString(task.connectionString, { allowInsecureConnection: true })),
    task.outDir,
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  if (outcome.status !== "done" || outcome.records !== task.records) throw new Error(`unexpected outcome ${JSON.stringify(outcome)}`);
  return { records: outcome.records, seconds: Number(seconds.toFixed(3)), recordsPerSecond: Math.round(outcome.records / seconds), cpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(3)), peakRssMb: peakRssMb(), outputMb: Number((outcome.bytes / 1048576).toFixed(1)) };
}

/** The warm-up item's records, through the feed's own path: the audit feed's as a content blob in pieces, the others' as pages. */
function warmUpRecords(feed: BenchFeed): () => RecordBatches {
  const count = 20_000;
  if (feed !== "o365-audit") return pageRecords(feed, count);
  const blob = Buffer.from(`[${auditTexts(count).join(",")}]`);
  return () => streamRecords(Readable.from(chunked(blob)));
}

function* chunked(blob: Buffer): Generator<Buffer> {
  for (let at = 0; at < blob.length; at += CONTENT_CHUNK_BYTES) yield blob.subarray(at, at + CONTENT_CHUNK_BYTES);
}

/**
 * The audit feed's own fetch (its client: token, TLS, gzip, the content's pieces), opened on the bench's
 * content server. The token and the connection are made by fetching an empty blob first: once per
 * process, no cost of one blob.
 */
async function contentDownload(download: ContentDownload, tenantId: string): Promise<() => Promise<RecordBatches>> {
  const settings = parseSettings({
    O365_TENANT_IDS: tenantId,
    O365_CLIENT_ID: download.clientId,
    O365_CLIENT_SECRET: download.clientSecret,
    O365_API_BASE_URL: download.apiBaseUrl,
    O365_LOGIN_BASE_URL: download.loginBaseUrl,
    DataStorage: "UseDevelopmentStorage=true",
  });
  const session = await o365AuditSource.open(settings.sources.get(o365AuditSource.name) as O365AuditConfig, {
    dispatcher: new Agent({ connect: { ca: download.ca } }),
    gate: new RequestGate(),
    requestTimeoutMs: 60_000,
    trustedCa: download.ca,
    onRequest: () => undefined,
    now: Date.now,
    namespace: "default",
    userAgent: "audit-intake-bench",
  });
  const work = (contentId: string) => ({
    tenantId,
    stream: "Audit.General",
    workId: contentId,
    created: new Date(BENCH_NOW).toISOString(),
    expires: new Date(BENCH_NOW + 86_400_000).toISOString(),
    item: { contentUri: `${download.apiBaseUrl}/api/v1.0/${tenantId}/activity/feed/audit/${contentId}` },
  });
  const records = async (contentId: string) => {
    const fetched = await session.fetch(work(contentId));
    if (isNextStep(fetched)) throw new Error("a content blob has no steps");
    return fetched;
  };
  for await (const batch of await records(BENCH_WARM_UP_ID)) void batch;
  return () => records(BENCH_CONTENT_ID);
}

/**
 * This process's peak RSS since the last resetPeakRss(). Linux's getrusage (process.resourceUsage().maxRSS)
 * keeps the peak of the image before exec, a fork of the bench's own process (which holds a 250 MB
 * blob's worth of buffers by then); the memory map's high-water mark (VmHWM) starts afresh at exec.
 */
function peakRssMb(): number {
  const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
  return Math.round((hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS) / 1024);
}

/**
 * Starts the high-water mark (VmHWM) again from the current RSS (Linux's clear_refs, value 5), so that
 * the measured item's peak is its own, not the warm-up's (whose records are built in memory).
 */
function resetPeakRss(): void {
  writeFileSync("/proc/self/clear_refs", "5");
}

/** `count` rows of a time-window feed as its page reader gets them: each page parsed when it is read, and its rows handed on. */
function pageRecords(feed: Exclude<BenchFeed, "o365-audit">, count: number) {
  const pages = pageTexts(feed, rowTexts(feed, count));
  return async function* () {
    for (const page of pages) yield pageRows(feed, page);
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
    for (const text of texts) checksum += calls.toLine(JSON.parse(text), text).line.length;
    return (performance.now() - started) / 1000;
  };
  // A warm-up on the first records, as in the normalize bench.
  for (const text of texts.slice(0, 20_000)) checksum += calls.toLine(JSON.parse(text), text).line.length;
  collectGarbage();
  const best = Math.min(round(), round(), round());
  return { records: texts.length, seconds: Number(best.toFixed(3)), recordsPerSecond: Math.round(texts.length / best), checksum };
}

/**
 * The worker path's stages, each timed alone on the same records (best of three after a warm-up), for
 * the ceiling of the worker's ratio. One thread runs the worker's loop: the input into records (the feed's
 * own: a content blob's pieces through the byte splitter, or a time-window feed's pages, each parsed whole
 * as its page reader parses it), and each record keyed, mapped and encoded. That loop is timed as one, in
 * one synchronous pass with no claims, I/O or compression: its parts cost more together than the sum of
 * their times alone (the stages below), as each slows the others' caches and collections. Compression runs
 * on another thread but takes a core of its own for its time.
 */
function stages(task: ChildTask, calls: FeedCalls) {
  const texts = task.feed === "o365-audit" ? auditTexts(task.records) : rowTexts(task.feed, task.records);
  const eachRecord = task.feed === "o365-audit" ? blobRecords(task.blob as string) : pagedRecords(task.feed, pageTexts(task.feed, texts));
  let checksum = 0;
  // Each stage's best of three rounds, the stages taking turns within a round: a drift of the machine's
  // speed then shows in every stage alike, not in the ratio of two.
  const timeEach = <K extends string>(runs: Record<K, () => void>): Record<K, number> => {
    const entries = Object.entries(runs) as [K, () => void][];
    for (const [, run] of entries) run();
    const best = {} as Record<K, number>;
    for (let round = 0; round < 3; round += 1) {
      for (const [name, run] of entries) {
        collectGarbage();
        const started = performance.now();
        run();
        best[name] = Math.min(best[name] ?? Infinity, (performance.now() - started) / 1000);
      }
    }
    for (const [name] of entries) best[name] = Number(best[name].toFixed(3));
    return best;
  };
  // Timed first, while the heap holds no more than the input, as in the worker and normalize alone.
  const first = timeEach({
    /** JSON.parse + normalize + JSON.stringify: the measure the worker is compared with. */
    normalizeAlone: () => {
      for (const text of texts) checksum += calls.toLine(JSON.parse(text), text).line.length;
    },
    /** The worker's loop in one synchronous pass: the input into records, each keyed, mapped and encoded, a batch of 500 at a time. */
    loop: () => {
      const batch = new LineBatch();
      eachRecord((record, text) => {
        const key = calls.recordKey(record, BENCH_NOW);
        batch.add(calls.toLine(record, text).line, key);
        if (batch.size === 500) batch.clear();
      });
    },
    /** The input into records alone, JSON.parse included. */
    split: () => eachRecord(() => (checksum += 1)),
    /** JSON.parse alone, of each record's text: the part of splitting that normalize alone pays too. */
    parse: () => {
      for (const text of texts) checksum += JSON.parse(text) === null ? 0 : 1;
    },
  });
  const records = texts.map((text) => JSON.parse(text) as unknown);
  const lines = records.map((record) => calls.toLine(record).line);
  const then = timeEach({
    /**
     * The lines into UTF-8, a batch of 500 at a time into one reused buffer. Less than encoding costs in
     * the loop: V8 returns JSON.stringify's result as a rope of parts, and writing it copies it flat first,
     * which only the first (untimed) round pays here.
     */
    encode: () => {
      const batch = new LineBatch();
      for (const line of lines) {
        batch.add(line, undefined);
        if (batch.size === 500) batch.clear();
      }
    },
    /** Each record's claim key. */
    claimKeys: () => {
      for (const record of records) checksum += calls.recordKey(record, BENCH_NOW) ? 1 : 0;
    },
  });
  const ndjson = Buffer.from(lines.join(""));
  const gzipStarted = performance.now();
  checksum += gzipSync(ndjson, { level: DEFAULT_GZIP_LEVEL }).length;
  const gzip = Number(((performance.now() - gzipStarted) / 1000).toFixed(3));
  return { records: texts.length, seconds: { ...first, ...then, gzip }, checksum };
}

/** Visits each record of the input, with the text it was parsed from when the worker gets one. */
type EachRecord = (visit: (record: unknown, text?: string) => void) => void;

/** A content blob through the byte splitter, in the pieces the worker's content stream hands on. */
function blobRecords(path: string): EachRecord {
  const chunks = [...chunked(readFileSync(path))];
  return (visit) => {
    const splitter = new JsonSplitter();
    const take = (items: SplitItem[]) => {
      for (const item of items) if (item.kind === "value") visit(item.value, item.text);
    };
    for (const chunk of chunks) take(splitter.push(chunk));
    take(splitter.end());
  };
}

/** A time-window feed's pages, each parsed whole as its page reader parses a response body. */
function pagedRecords(feed: Exclude<BenchFeed, "o365-audit">, pages: readonly string[]): EachRecord {
  return (visit) => {
    for (const page of pages) for (const row of pageRows(feed, page)) visit(row);
  };
}
