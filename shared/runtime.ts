import type { Meter } from "@opentelemetry/api";
import { Agent } from "undici";
import { readAppQueueSemantics } from "./config/hostJson.js";
import { parseSettings, type Settings } from "./config/settings.js";
import { openGeoIp } from "./ecs/geoip.js";
import { RequestGate } from "./http/gate.js";
import { ALL_STREAMS, listAll, type ListedFeed, type ListingSummary, type StreamResult } from "./pipeline/lister.js";
import { type ItemCheck, parseWorkMessage, type WorkMessage } from "./pipeline/message.js";
import { markIfLastAttempt } from "./pipeline/poison.js";
import { processWork, type WorkedFeed, type WorkOutcome } from "./pipeline/worker.js";
import { WorkQueue } from "./pipeline/workQueue.js";
import { type AnySource, SOURCES, sourceNamed } from "./sources/registry.js";
import type { RequestEvent, SourceSession, StreamRef } from "./sources/source.js";
import { RecordClaims } from "./state/claims.js";
import { CursorStore } from "./state/cursors.js";
import { WorkLedger } from "./state/ledger.js";
import { createStorageClients, ensureTable, type StorageClients } from "./state/storage.js";
import { BlobSink } from "./sinks/blob.js";
import { FileSink } from "./sinks/file.js";
import { rejectedMessagePath } from "./sinks/layout.js";
import type { OutputSink } from "./sinks/sink.js";
import { collectStatus, type Status } from "./status/status.js";
import { startAzureMonitor } from "./telemetry/azureMonitor.js";
import { createTelemetry } from "./telemetry/metrics.js";
import type { Logger } from "./util/log.js";
import { applyWorkerV8Flags } from "./util/v8Flags.js";

/**
 * Everything a function needs, built once per worker process from the settings: storage clients,
 * state tables, the work queue, the output sink, and every enabled feed opened with the shared HTTP
 * dispatcher and the one throttle gate of the process.
 */
export interface RuntimeOptions {
  /** CA of a local simulator; never set on Azure. */
  trustedCa?: string;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Worker backoff base for throttling without Retry-After (default 15 s). */
  throttleBaseMs?: number;
  /** Where metrics go; by default the global meter (the Azure Monitor distro's when it is configured). */
  meter?: Meter;
  /** After how many dequeues a failing message goes to the poison queue; by default host.json's, as the trigger's. */
  maxDequeueCount?: number;
  /** The local host's stop request: a listing under way starts no new stream or window after it. */
  signal?: AbortSignal;
}

/** A stream whose last listing failed: what the local host's summary names, and why its exit code is not 0. */
export type UnlistedStream = Required<Pick<StreamResult, "source" | "tenantId" | "stream" | "errorClass" | "error" | "fix">>;

/** Counters since the runtime started, in total and per feed: the local host's progress and summary read them. */
export interface RuntimeStats {
  workListed: number;
  enqueued: number;
  processed: number;
  failed: number;
  expired: number;
  skipped: number;
  throttledWork: number;
  /** Work put back for a while because the API refused its tenant (consent, permission, setup). */
  blockedWork: number;
  /** Steps of work done in steps (a query run submitted, polled) after which the item went back on the queue. */
  continuedWork: number;
  /** Messages put back because their tenant was at WORK_MAX_PER_TENANT. */
  deferredWork: number;
  rejectedMessages: number;
  recordsWritten: number;
  duplicatesSkipped: number;
  pipelineErrors: number;
  bytesWritten: number;
  apiRequests: number;
  throttledRequests: number;
}

/** An enabled feed, opened. */
export interface OpenFeed {
  source: AnySource;
  session: SourceSession<unknown>;
}

export interface Runtime {
  settings: Settings;
  /** Totals over every feed. */
  stats: RuntimeStats;
  /** The same counters per feed, by name (enabled feeds only). */
  statsBySource: ReadonlyMap<string, RuntimeStats>;
  feeds: ReadonlyMap<string, OpenFeed>;
  storage: StorageClients;
  queue: WorkQueue;
  sink: OutputSink;
  cursors: CursorStore;
  ledger: WorkLedger;
  /** Streams whose latest listing failed, by `source|tenantId|stream`; a later successful listing clears them. */
  unlisted: Map<string, UnlistedStream>;
  /** Lists one feed, or every enabled feed. */
  list(log: Logger, source?: string): Promise<ListingSummary>;
  process(message: WorkMessage, log: Logger): Promise<WorkOutcome | Deferred>;
  /** The queue trigger's whole job: validate the payload, keep it with the reason if invalid, else process it. */
  /** `dequeueCount` is the trigger's: on the last allowed one, a failure marks the ledger row poisoned. */
  handleMessage(payload: unknown, messageId: string, log: Logger, dequeueCount?: number): Promise<WorkOutcome | Deferred | { status: "rejected"; reason: string }>;
  reject(messageId: string, payload: unknown, reason: string, log: Logger): Promise<void>;
  /** The item check of a feed by name, for messages read outside the trigger (re-drive); a reason when there is none. */
  feedOf(name: string): ItemCheck | string;
  status(): Promise<Status>;
  close(): Promise<void>;
}

/** The tenant was at its work bound: the message went back on the queue for a little while. */
export type Deferred = { status: "deferred"; delayMs: number };

/** How long a deferred message stays invisible: a few seconds, spread so deferred messages do not return together. */
function deferDelay(): number {
  return 2_000 + Math.round(Math.random() * 3_000);
}

export function emptyStats(): RuntimeStats {
  return {
    workListed: 0,
    enqueued: 0,
    processed: 0,
    failed: 0,
    expired: 0,
    skipped: 0,
    throttledWork: 0,
    blockedWork: 0,
    continuedWork: 0,
    deferredWork: 0,
    rejectedMessages: 0,
    recordsWritten: 0,
    duplicatesSkipped: 0,
    pipelineErrors: 0,
    bytesWritten: 0,
    apiRequests: 0,
    throttledRequests: 0,
  };
}

/** What a message for a feed this process does not run is told: known but switched off, or unknown. */
export function unknownFeedReason(name: string, enabled: readonly string[]): string {
  const known = SOURCES.map((source) => source.name);
  return known.includes(name)
    ? `feed ${name} is not enabled here (enabled: ${enabled.join(", ") || "none"})`
    : `unknown feed ${name} (known: ${known.join(", ")})`;
}

export async function createRuntime(settings: Settings, options: RuntimeOptions = {}): Promise<Runtime> {
  applyWorkerV8Flags();
  const now = options.now ?? Date.now;
  const stats = emptyStats();
  const statsBySource = new Map(settings.enabledSources.map((name) => [name, emptyStats()]));
  /** Counts in the total and in the feed's own counters at once. */
  const count = (source: string, change: (s: RuntimeStats) => void) => {
    change(stats);
    const own = statsBySource.get(source);
    if (own) change(own);
  };
  // The distro must own the global meter before instruments are created from it.
  if (!options.meter) await startAzureMonitor(settings.appInsights.connectionString, settings.appInsights.authentication);
  const telemetry = createTelemetry(options.meter);
  const maxDequeueCount = options.maxDequeueCount ?? (await readAppQueueSemantics()).maxDequeueCount;
  const storage = createStorageClients(settings.storage);
  const [cursorTable, ledgerTable] = [storage.table(settings.tables.cursors), storage.table(settings.tables.ledger)];
  await Promise.all([ensureTable(cursorTable), ensureTable(ledgerTable)]);
  const cursors = new CursorStore(cursorTable);
  const ledger = new WorkLedger(ledgerTable);
  const claims = new RecordClaims(settings.tables.records, storage.table, storage.tables);
  const queue = new WorkQueue(storage.queues.getQueueClient(settings.workQueue));
  await queue.ensure();
  const sink = await createSink(settings, storage);

  const dispatcher = new Agent({
    connections: 64,
    keepAliveTimeout: 30_000,
    connectTimeout: Math.min(settings.requestTimeoutMs, 30_000),
    ...(options.trustedCa ? { connect: { ca: options.trustedCa } } : {}),
  });
  const enabled = SOURCES.filter((source) => settings.enabledSources.includes(source.name));
  // One per process: a tenant throttled for the lister is throttled for the worker too, and each key
  // carries its API's request budget, if the API has one.
  const gate = new RequestGate(undefined, (key) => enabled.map((source) => source.requestBudget?.(key)).find((budget) => budget !== undefined));
  const geoip = await openGeoIp(settings.geoip);
  const feeds = new Map<string, OpenFeed>();
  for (const source of enabled) {
    const onRequest = (event: RequestEvent) => {
      count(source.name, (s) => {
        s.apiRequests += 1;
        if (event.throttled) s.throttledRequests += 1;
      });
      telemetry.apiRequest({ source: source.name, tenant: event.tenantId, stream: event.stream }, event.operation, event.throttled);
    };
    const session = await source.open(settings.sources.get(source.name), {
      dispatcher,
      gate,
      requestTimeoutMs: settings.requestTimeoutMs,
      trustedCa: options.trustedCa,
      onRequest,
      sleep: options.sleep,
      now,
      geoip,
      namespace: settings.namespace,
      userAgent: "audit-intake/0.1",
    });
    feeds.set(source.name, { source, session });
  }
  const listed: ListedFeed[] = [...feeds.values()].map(({ source, session }) => ({ name: source.name, session }));
  const worked = new Map<string, WorkedFeed>([...feeds.values()].map(({ source, session }) => [source.name, { name: source.name, dataset: source.dataset, session }]));
  const reported = new Set<string>();
  const busy = new Map<string, number>();
  const unlisted = new Map<string, UnlistedStream>();
  const feedOf = (name: string): ItemCheck | string => {
    const feed = feeds.get(name);
    if (!feed) return unknownFeedReason(name, settings.enabledSources);
    const { redriven } = feed.source;
    return { item: feed.source.item, refuse: (work) => feed.session.refuse(work), ...(redriven ? { redriven: (item: unknown) => redriven(item) } : {}) };
  };

  const runtime: Runtime = {
    settings,
    stats,
    statsBySource,
    feeds,
    storage,
    queue,
    sink,
    cursors,
    ledger,
    unlisted,
    feedOf,
    async list(log, source) {
      const summary = await listAll({
        feeds: source === undefined ? listed : listed.filter((feed) => feed.name === source),
        cursors,
        ledger,
        enqueue: (message) => queue.send(message),
        settings,
        log,
        now,
        reported,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const listedAt = now();
      // A feed whose tenants were found this time clears an earlier "could not be found" (its `*` stream).
      const unfound = new Set(summary.streams.filter((s) => s.tenantId === ALL_STREAMS).map((s) => s.source));
      for (const { name } of source === undefined ? listed : listed.filter((feed) => feed.name === source)) {
        if (!unfound.has(name)) unlisted.delete(`${name}|${ALL_STREAMS}|${ALL_STREAMS}`);
      }
      for (const stream of summary.streams) {
        count(stream.source, (s) => {
          s.workListed += stream.listed;
          s.enqueued += stream.enqueued;
        });
        const at = { source: stream.source, tenant: stream.tenantId, stream: stream.stream };
        telemetry.workListed(at, stream.listed);
        telemetry.workEnqueued(at, stream.enqueued);
        if (stream.cursorMs !== undefined) telemetry.lag(at, "cursor", (listedAt - stream.cursorMs) / 1000);
        const key = `${stream.source}|${stream.tenantId}|${stream.stream}`;
        if (stream.error === undefined) unlisted.delete(key);
        else {
          const { source: name, tenantId, stream: streamName, error, errorClass = "fatal", fix = "" } = stream;
          unlisted.set(key, { source: name, tenantId, stream: streamName, error, errorClass, fix });
        }
      }
      try {
        const dropped = await claims.purge(now());
        if (dropped.length > 0) log.info("dropped record-claim tables past retention", { tables: dropped });
      } catch (error) {
        log.warn("could not purge old record-claim tables; retrying next run", { error: String(error) });
      }
      return summary;
    },
    async process(message, log) {
      const feed = worked.get(message.source);
      if (!feed) throw new Error(unknownFeedReason(message.source, settings.enabledSources));
      // A tenant's work is bounded per instance; past the bound the message goes back on the queue
      // rather than holding one of the instance's slots, so other tenants are not starved.
      const key = `${message.source}|${message.tenantId}`;
      const running = busy.get(key) ?? 0;
      if (running >= settings.maxWorkPerTenant) {
        const delayMs = deferDelay();
        await queue.send(message, delayMs);
        count(message.source, (s) => {
          s.deferredWork += 1;
        });
        return { status: "deferred", delayMs };
      }
      busy.set(key, running + 1);
      let outcome: WorkOutcome;
      try {
        outcome = await processWork(message, {
          feed,
          ledger,
          claims,
          sink,
          namespace: settings.namespace,
          requeue: (next, delayMs) => queue.send(next, delayMs),
          log,
          now,
          ...(options.throttleBaseMs !== undefined ? { throttleBaseMs: options.throttleBaseMs } : {}),
        });
      } finally {
        const left = (busy.get(key) ?? 1) - 1;
        if (left > 0) busy.set(key, left);
        else busy.delete(key);
      }
      count(message.source, (s) => countOutcome(s, outcome));
      const at = { source: message.source, tenant: message.tenantId, stream: message.stream };
      if (outcome.status === "done") {
        telemetry.workOutcome(at, "processed");
        telemetry.written(at, outcome.records, outcome.bytes);
        telemetry.lag(at, "work", (now() - Date.parse(message.created)) / 1000);
      } else if (outcome.status === "failed" || outcome.status === "expired") {
        telemetry.workOutcome(at, outcome.status);
      }
      return outcome;
    },
    async handleMessage(payload, messageId, log, dequeueCount) {
      const parsed = parseWorkMessage(payload, feedOf);
      if (!parsed.ok) {
        const { envelope } = parsed;
        if (envelope && !feeds.has(envelope.source) && sourceNamed(envelope.source)) {
          // A feed switched off here (for now, or on this instance only) keeps its work: the message fails
          // like any other, ends in the poison queue with its row marked, and `redrive` brings it back.
          const error = new Error(parsed.reason);
          await markIfLastAttempt(envelope, error, { dequeueCount, maxDequeueCount }, { ledger, log, now });
          throw error;
        }
        await runtime.reject(messageId, payload, parsed.reason, log);
        return { status: "rejected", reason: parsed.reason };
      }
      try {
        return await runtime.process(parsed.message, log);
      } catch (error) {
        await markIfLastAttempt(parsed.message, error, { dequeueCount, maxDequeueCount }, { ledger, log, now });
        throw error;
      }
    },
    async reject(messageId, payload, reason, log) {
      const body = typeof payload === "string" ? payload : JSON.stringify(payload) ?? String(payload);
      const path = rejectedMessagePath(messageId, now());
      await sink.putRaw(path, Buffer.from(body, "utf8"), { messageId, reason, queue: settings.workQueue });
      stats.rejectedMessages += 1;
      log.error("queue message rejected: kept with the reason", { messageId, reason, path });
    },
    async status() {
      // A feed whose tenants cannot be found now still shows the streams its cursors and ledger know.
      const found = await Promise.all([...feeds.values()].map(async ({ source, session }) => (await Promise.resolve(session.streams()).catch(() => [])).map((ref: StreamRef) => ({ source: source.name, ...ref }))));
      return collectStatus({ configured: found.flat(), cursors, ledger, now });
    },
    async close() {
      await dispatcher.close();
    },
  };
  return runtime;
}

function countOutcome(stats: RuntimeStats, outcome: WorkOutcome): void {
  switch (outcome.status) {
    case "done":
      stats.processed += 1;
      stats.recordsWritten += outcome.records;
      stats.duplicatesSkipped += outcome.duplicates;
      stats.pipelineErrors += outcome.pipelineErrors;
      stats.bytesWritten += outcome.bytes;
      break;
    case "failed":
      stats.failed += 1;
      break;
    case "expired":
      stats.expired += 1;
      break;
    case "skipped":
      stats.skipped += 1;
      break;
    case "throttled":
      stats.throttledWork += 1;
      break;
    case "blocked":
      stats.blockedWork += 1;
      break;
    case "continued":
      stats.continuedWork += 1;
      break;
  }
}

async function createSink(settings: Settings, storage: StorageClients): Promise<OutputSink> {
  const { gzipLevel } = settings.output;
  if (settings.output.kind === "file") return new FileSink(settings.output.dir, { gzipLevel });
  const sink = new BlobSink(storage.blobs.getContainerClient(settings.output.container), { gzipLevel });
  await sink.ensure();
  return sink;
}

let shared: Promise<Runtime> | undefined;
let sharedOptions: RuntimeOptions = {};

/** Used by the local host before the first invocation (the simulator's CA, a fake clock in tests). */
export function configureSharedRuntime(options: RuntimeOptions): void {
  sharedOptions = options;
  shared = undefined;
}

/** The runtime of this worker process, created on first use from process.env. */
export function getRuntime(): Promise<Runtime> {
  shared ??= createRuntime(parseSettings(process.env), sharedOptions).catch((error: unknown) => {
    shared = undefined; // a failed start (storage briefly unreachable) is retried by the next invocation
    throw error;
  });
  return shared;
}

export async function resetSharedRuntime(): Promise<void> {
  const current = shared;
  shared = undefined;
  await (await current?.catch(() => undefined))?.close();
}
