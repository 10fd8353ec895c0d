import type { Meter } from "@opentelemetry/api";
import { Agent } from "undici";
import { readAppQueueSemantics } from "./config/hostJson.js";
import { parseSettings, type Settings } from "./config/settings.js";
import { RequestGate } from "./http/gate.js";
import { openGeoIp } from "./ecs/geoip.js";
import { createCredentialFactory } from "./entra/auth.js";
import { ManagementApiClient, type RequestEvent } from "./sources/o365-audit/client.js";
import { ContentQueue } from "./pipeline/contentQueue.js";
import { listAll, type ListingSummary, type StreamResult } from "./pipeline/lister.js";
import { type ContentMessage, parseContentMessage } from "./pipeline/message.js";
import { markIfLastAttempt } from "./pipeline/poison.js";
import { processContent, type WorkOutcome } from "./pipeline/worker.js";
import { RecordClaims } from "./state/claims.js";
import { CursorStore } from "./state/cursors.js";
import { ContentLedger } from "./state/ledger.js";
import { createStorageClients, ensureTable, type StorageClients } from "./state/storage.js";
import { BlobSink } from "./sinks/blob.js";
import { collectStatus, type Status } from "./status/status.js";
import { startAzureMonitor } from "./telemetry/azureMonitor.js";
import { createTelemetry } from "./telemetry/metrics.js";
import { FileSink } from "./sinks/file.js";
import { rejectedMessagePath } from "./sinks/layout.js";
import type { OutputSink } from "./sinks/sink.js";
import type { Logger } from "./util/log.js";

/**
 * Everything a function needs, built once per worker process from the settings: storage clients,
 * state tables, the content queue, the output sink and two API clients (the lister retries
 * throttling in place; the worker re-enqueues instead, so it never holds a slot while waiting).
 */
export interface RuntimeOptions {
  /** CA of a local Management API simulator; never set on Azure. */
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
export type UnlistedStream = Required<Pick<StreamResult, "tenantId" | "contentType" | "errorClass" | "error" | "fix">>;

/** Counters since the runtime started: the local host's progress and summary read them. */
export interface RuntimeStats {
  contentListed: number;
  enqueued: number;
  processed: number;
  failed: number;
  expired: number;
  skipped: number;
  throttledContent: number;
  /** Messages put back because their tenant was at O365_MAX_DOWNLOADS_PER_TENANT. */
  deferredContent: number;
  rejectedMessages: number;
  recordsWritten: number;
  duplicatesSkipped: number;
  pipelineErrors: number;
  bytesWritten: number;
  apiRequests: number;
  throttledRequests: number;
}

export interface Runtime {
  settings: Settings;
  stats: RuntimeStats;
  storage: StorageClients;
  queue: ContentQueue;
  sink: OutputSink;
  cursors: CursorStore;
  ledger: ContentLedger;
  /** Streams whose latest listing failed, by `tenantId|contentType`; a later successful listing clears them. */
  unlisted: Map<string, UnlistedStream>;
  list(log: Logger): Promise<ListingSummary>;
  process(message: ContentMessage, log: Logger): Promise<WorkOutcome | Deferred>;
  /** The queue trigger's whole job: validate the payload, keep it with the reason if invalid, else process it. */
  /** `dequeueCount` is the trigger's: on the last allowed one, a failure marks the ledger row poisoned. */
  handleMessage(payload: unknown, messageId: string, log: Logger, dequeueCount?: number): Promise<WorkOutcome | Deferred | { status: "rejected"; reason: string }>;
  reject(messageId: string, payload: unknown, reason: string, log: Logger): Promise<void>;
  status(): Promise<Status>;
  close(): Promise<void>;
}

/** The tenant was at its download bound: the message went back on the queue for a little while. */
export type Deferred = { status: "deferred"; delayMs: number };

/** How long a deferred message stays invisible: a few seconds, spread so deferred messages do not return together. */
function deferDelay(): number {
  return 2_000 + Math.round(Math.random() * 3_000);
}

function emptyStats(): RuntimeStats {
  return {
    contentListed: 0,
    enqueued: 0,
    processed: 0,
    failed: 0,
    expired: 0,
    skipped: 0,
    throttledContent: 0,
    deferredContent: 0,
    rejectedMessages: 0,
    recordsWritten: 0,
    duplicatesSkipped: 0,
    pipelineErrors: 0,
    bytesWritten: 0,
    apiRequests: 0,
    throttledRequests: 0,
  };
}

export async function createRuntime(settings: Settings, options: RuntimeOptions = {}): Promise<Runtime> {
  const now = options.now ?? Date.now;
  const stats = emptyStats();
  // The distro must own the global meter before instruments are created from it.
  if (!options.meter) await startAzureMonitor(settings.appInsights.connectionString, settings.appInsights.authentication);
  const telemetry = createTelemetry(options.meter);
  const maxDequeueCount = options.maxDequeueCount ?? (await readAppQueueSemantics()).maxDequeueCount;
  const storage = createStorageClients(settings.storage);
  const [cursorTable, ledgerTable] = [storage.table(settings.tables.cursors), storage.table(settings.tables.ledger)];
  await Promise.all([ensureTable(cursorTable), ensureTable(ledgerTable)]);
  const cursors = new CursorStore(cursorTable);
  const ledger = new ContentLedger(ledgerTable);
  const claims = new RecordClaims(settings.tables.records, storage.table, storage.tables);
  const queue = new ContentQueue(storage.queues.getQueueClient(settings.contentQueue));
  await queue.ensure();
  const sink = await createSink(settings, storage);

  const dispatcher = new Agent({
    connections: 64,
    keepAliveTimeout: 30_000,
    connectTimeout: Math.min(settings.requestTimeoutMs, 30_000),
    ...(options.trustedCa ? { connect: { ca: options.trustedCa } } : {}),
  });
  const credentialFor = createCredentialFactory(settings, options.trustedCa ? { trustedCa: options.trustedCa } : {});
  const onRequest = (event: RequestEvent) => {
    stats.apiRequests += 1;
    if (event.errorClass === "throttled") stats.throttledRequests += 1;
    telemetry.apiRequest(event.tenantId, event.contentType, event.operation, event.errorClass === "throttled");
  };
  const apiOptions = {
    apiBaseUrl: settings.apiBaseUrl,
    publisherId: settings.publisherId,
    credentialFor,
    dispatcher,
    // One per process: a tenant throttled for the lister is throttled for the worker too.
    gate: new RequestGate(),
    timeoutMs: settings.requestTimeoutMs,
    onRequest,
    userAgent: "audit-intake/0.1",
    ...(options.sleep ? { sleep: options.sleep } : {}),
  };
  const listApi = new ManagementApiClient({ ...apiOptions, maxThrottleRetries: 5, maxTransientRetries: 4 });
  // A download for a held tenant waits out a short hold (a trip through the queue costs more: whole-second
  // visibility, a poll, a dequeue) and goes back on the queue for a long one, so no instance waits long.
  const contentApi = new ManagementApiClient({ ...apiOptions, maxThrottleRetries: 0, maxGateWaitMs: 5_000, maxTransientRetries: 3 });
  const reported = new Set<string>();
  const downloads = new Map<string, number>();
  const geoip = await openGeoIp(settings.geoip);
  const normalizeContext = { tenantNames: settings.tenantNames, preserveOriginal: false, now, ...(geoip ? { geoip } : {}) };
  const unlisted = new Map<string, UnlistedStream>();

  const runtime: Runtime = {
    settings,
    stats,
    storage,
    queue,
    sink,
    cursors,
    ledger,
    unlisted,
    async list(log) {
      const summary = await listAll({
        api: listApi,
        cursors,
        ledger,
        enqueue: (message) => queue.send(message),
        settings,
        log,
        now,
        reported,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      stats.contentListed += summary.listed;
      stats.enqueued += summary.enqueued;
      const listedAt = now();
      for (const stream of summary.streams) {
        telemetry.contentListed(stream.tenantId, stream.contentType, stream.listed);
        telemetry.contentEnqueued(stream.tenantId, stream.contentType, stream.enqueued);
        if (stream.cursorMs !== undefined) telemetry.lag(stream.tenantId, stream.contentType, "cursor", (listedAt - stream.cursorMs) / 1000);
        const key = `${stream.tenantId}|${stream.contentType}`;
        if (stream.error === undefined) unlisted.delete(key);
        else {
          const { tenantId, contentType, error, errorClass = "fatal", fix = "" } = stream;
          unlisted.set(key, { tenantId, contentType, error, errorClass, fix });
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
      // A tenant's downloads are bounded per instance; past the bound the message goes back on the
      // queue rather than holding one of the instance's slots, so other tenants are not starved.
      const busy = downloads.get(message.tenantId) ?? 0;
      if (busy >= settings.maxDownloadsPerTenant) {
        const delayMs = deferDelay();
        await queue.send(message, delayMs);
        stats.deferredContent += 1;
        return { status: "deferred", delayMs };
      }
      downloads.set(message.tenantId, busy + 1);
      let outcome: WorkOutcome;
      try {
        outcome = await processContent(message, {
        api: contentApi,
        ledger,
        claims,
        sink,
        requeue: (next, delayMs) => queue.send(next, delayMs),
        normalizeContext,
        log,
        now,
        ...(options.throttleBaseMs !== undefined ? { throttleBaseMs: options.throttleBaseMs } : {}),
        });
      } finally {
        const left = (downloads.get(message.tenantId) ?? 1) - 1;
        if (left > 0) downloads.set(message.tenantId, left);
        else downloads.delete(message.tenantId);
      }
      countOutcome(stats, outcome);
      const { tenantId, contentType } = message;
      if (outcome.status === "done") {
        telemetry.contentOutcome(tenantId, contentType, "processed");
        telemetry.written(tenantId, contentType, outcome.records, outcome.bytes);
        telemetry.lag(tenantId, contentType, "content", (now() - Date.parse(message.contentCreated)) / 1000);
      } else if (outcome.status === "failed" || outcome.status === "expired") {
        telemetry.contentOutcome(tenantId, contentType, outcome.status);
      }
      return outcome;
    },
    async handleMessage(payload, messageId, log, dequeueCount) {
      const parsed = parseContentMessage(payload, settings.apiBaseUrl);
      if (!parsed.ok) {
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
      await sink.putRaw(path, Buffer.from(body, "utf8"), { messageId, reason, queue: settings.contentQueue });
      stats.rejectedMessages += 1;
      log.error("queue message rejected: kept with the reason", { messageId, reason, path });
    },
    status() {
      return collectStatus({ settings, cursors, ledger, now });
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
      stats.throttledContent += 1;
      break;
  }
}

async function createSink(settings: Settings, storage: StorageClients): Promise<OutputSink> {
  if (settings.output.kind === "file") return new FileSink(settings.output.dir);
  const sink = new BlobSink(storage.blobs.getContainerClient(settings.output.container));
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
