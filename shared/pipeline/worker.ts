import type { Readable } from "node:stream";
import { ManagementApiError } from "../sources/o365-audit/errors.js";
import type { ManagementApiClient } from "../sources/o365-audit/client.js";
import { normalizeToLine, type NormalizeContext } from "../sources/o365-audit/normalize/normalize.js";
import { claimFor, type ClaimRequest, type RecordClaims } from "../state/claims.js";
import type { ContentLedger, LedgerEntry } from "../state/ledger.js";
import { contentOutputPath, failedContentPath } from "../sinks/layout.js";
import type { OutputSink, OutputWriter } from "../sinks/sink.js";
import type { Logger } from "../util/log.js";
import type { ContentMessage } from "./message.js";
import { InvalidContentError, streamRecords } from "./records.js";

/**
 * The queue worker's logic: download one content blob as a stream, normalize record by record,
 * write gzip NDJSON under a deterministic name, then mark the ledger row done.
 */
export interface WorkerDeps {
  api: Pick<ManagementApiClient, "openContent">;
  ledger: ContentLedger;
  claims: Pick<RecordClaims, "claim">;
  sink: OutputSink;
  /** Puts the message back on the queue, invisible for delayMs (throttling must not burn a dequeue). */
  requeue: (message: ContentMessage, delayMs: number) => Promise<void>;
  normalizeContext: NormalizeContext;
  log: Logger;
  now: () => number;
  random?: () => number;
  /** Base of the backoff when a throttled answer carries no Retry-After. */
  throttleBaseMs?: number;
}

export type WorkOutcome =
  | { status: "done"; records: number; duplicates: number; pipelineErrors: number; bytes: number; output: string | undefined }
  | { status: "skipped"; reason: string }
  | { status: "expired" }
  | { status: "throttled"; delayMs: number }
  | { status: "failed"; reason: string };

/** Records settled against the claims table at once: bounded memory, few round trips. */
const CLAIM_BATCH = 500;
const THROTTLE_BASE_MS = 15_000;
const THROTTLE_MAX_MS = 15 * 60_000;

export async function processContent(message: ContentMessage, deps: WorkerDeps): Promise<WorkOutcome> {
  const { tenantId, contentType, contentId } = message;
  const started = deps.now();
  const where = { tenantId, contentType, contentId };
  const known = await deps.ledger.get(tenantId, contentType, contentId);
  // A poisoned row whose message is back was re-driven: it waits like a queued one.
  if (known && known.state !== "queued" && known.state !== "poisoned") return { status: "skipped", reason: `ledger says ${known.state}` };

  const base: LedgerEntry = {
    tenantId,
    contentType,
    contentId,
    state: "queued",
    contentCreated: new Date(message.contentCreated),
    contentExpiration: new Date(message.contentExpiration),
    attempts: (known?.attempts ?? 0) + 1,
  };

  if (Date.parse(message.contentExpiration) <= deps.now()) return expire(base, deps, "contentExpiration has passed");

  let writer: OutputWriter | undefined;
  let body: Readable | undefined;
  const output = contentOutputPath(tenantId, contentType, contentId, message.contentCreated);
  try {
    body = await deps.api.openContent(tenantId, message.contentUri, contentType);
    writer = await deps.sink.open(output);
    const counts = await writeRecords(streamRecords(body), writer, message, deps);
    const { bytes } = counts.written > 0 ? await writer.commit() : (await writer.abort(new Error("no records to write")), { bytes: 0 });
    writer = undefined;
    await deps.ledger.finish({
      ...base,
      state: "done",
      finishedAt: new Date(deps.now()),
      records: counts.written,
      duplicates: counts.duplicates,
      pipelineErrors: counts.pipelineErrors,
      bytes,
      durationMs: deps.now() - started,
      output: counts.written > 0 ? output : "",
      error: "",
    });
    deps.log.info("content written", { ...where, records: counts.written, duplicates: counts.duplicates, bytes, output });
    return { status: "done", records: counts.written, duplicates: counts.duplicates, pipelineErrors: counts.pipelineErrors, bytes, output: counts.written > 0 ? output : undefined };
  } catch (error) {
    body?.destroy(); // a download not read to the end must not hold its connection
    await writer?.abort(error instanceof Error ? error : new Error(String(error)));
    if (error instanceof ManagementApiError) {
      if (error.errorClass === "throttled") {
        const delayMs = throttleDelay(message.throttled, error.retryAfterMs, deps.random ?? Math.random, deps.throttleBaseMs);
        // Without a status nothing was sent: the tenant was held for another request's throttling, which
        // says nothing about this message, so its own backoff (without Retry-After) does not grow.
        const throttled = message.throttled + (error.status === undefined ? 0 : 1);
        await deps.requeue({ ...message, throttled }, delayMs);
        deps.log.info("content download throttled; message re-enqueued", { ...where, delayMs });
        return { status: "throttled", delayMs };
      }
      if (error.errorClass === "expired") return expire(base, deps, error.message);
      if (error.errorClass === "notFound") return fail(base, deps, error.message, undefined);
    }
    if (error instanceof InvalidContentError) {
      return fail(base, deps, error.message, async () => {
        // Keep the raw bytes for replay; a second download is cheaper than holding every blob in memory.
        const raw = await deps.api.openContent(tenantId, message.contentUri, contentType);
        const path = failedContentPath(tenantId, contentType, contentId);
        await deps.sink.putRaw(path, raw, { tenantId, contentType, contentId, contentUri: message.contentUri, error: error.message });
        return path;
      });
    }
    throw error; // transient or unknown: the queue retries it, then moves it to the poison queue
  }
}

async function writeRecords(records: AsyncIterable<unknown>, writer: OutputWriter, message: ContentMessage, deps: WorkerDeps) {
  const counts = { written: 0, duplicates: 0, pipelineErrors: 0 };
  const now = deps.now();
  let batch: { line: string; claim: ClaimRequest | undefined }[] = [];
  const flush = async () => {
    const claims = batch.flatMap((item) => (item.claim ? [item.claim] : []));
    const owned = claims.length > 0 ? await deps.claims.claim(message.tenantId, message.contentId, claims) : new Set<string>();
    for (const { line, claim } of batch) {
      if (claim && !owned.has(claim.recordId)) {
        counts.duplicates += 1;
        continue;
      }
      await writer.write(line);
      counts.written += 1;
    }
    batch = [];
  };
  for await (const record of records) {
    const { line, pipelineError } = normalizeToLine(record, deps.normalizeContext);
    if (pipelineError) counts.pipelineErrors += 1;
    batch.push({ line, claim: claimFor(record, now) });
    if (batch.length >= CLAIM_BATCH) await flush();
  }
  await flush();
  return counts;
}

/** The server's Retry-After when it gives one (spread by up to a second), else exponential backoff with jitter. */
export function throttleDelay(times: number, retryAfterMs: number | undefined, random: () => number, baseMs = THROTTLE_BASE_MS): number {
  if (retryAfterMs !== undefined) return retryAfterMs + Math.round(random() * 1000);
  const backoff = Math.min(THROTTLE_MAX_MS, baseMs * 2 ** times);
  return Math.round(backoff / 2 + (random() * backoff) / 2);
}

async function expire(base: LedgerEntry, deps: WorkerDeps, reason: string): Promise<WorkOutcome> {
  await deps.ledger.finish({ ...base, state: "expired", finishedAt: new Date(deps.now()), error: reason });
  deps.log.warn("content expired before it could be downloaded; its records are lost at the source", {
    tenantId: base.tenantId,
    contentType: base.contentType,
    contentId: base.contentId,
    reason,
  });
  return { status: "expired" };
}

async function fail(base: LedgerEntry, deps: WorkerDeps, reason: string, keepRaw: (() => Promise<string>) | undefined): Promise<WorkOutcome> {
  const rawPath = keepRaw ? await keepRaw() : undefined;
  await deps.ledger.finish({ ...base, state: "failed", finishedAt: new Date(deps.now()), error: reason, output: rawPath ?? "" });
  deps.log.error("content failed", { tenantId: base.tenantId, contentType: base.contentType, contentId: base.contentId, reason, rawPath });
  return { status: "failed", reason };
}
