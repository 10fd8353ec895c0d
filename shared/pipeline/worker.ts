import { pipelineErrorDocument, withDataStream } from "../ecs/document.js";
import { isNextStep, type RecordBatches, type SourceSession } from "../sources/source.js";
import type { ClaimRequest, RecordClaims } from "../state/claims.js";
import type { LedgerEntry, WorkLedger } from "../state/ledger.js";
import { failedWorkPath, workOutputPath } from "../sinks/layout.js";
import type { OutputSink, OutputWriter } from "../sinks/sink.js";
import type { Logger } from "../util/log.js";
import { firstCopyFilter } from "./itemCopies.js";
import { LineBatch } from "./lineBatch.js";
import type { WorkMessage } from "./message.js";
import { InvalidContentError, ParsedRecord, UnreadableRecord } from "./records.js";

/**
 * The queue worker's logic, for any feed: fetch one work item's records as they arrive, normalize
 * record by record, claim each record (the first work item to claim it writes it, its first copy there),
 * write gzip NDJSON under a deterministic name, then mark the ledger row done. Content that is no record
 * (an element of a blob that is not JSON) is written as a pipeline_error document that keeps its text.
 */
export interface WorkedFeed {
  name: string;
  dataset: string;
  session: Pick<SourceSession<unknown>, "fetch" | "raw" | "recordKey" | "toLine" | "failure">;
}

export interface WorkerDeps {
  feed: WorkedFeed;
  ledger: WorkLedger;
  claims: Pick<RecordClaims, "claim">;
  sink: OutputSink;
  /** data_stream.namespace of the documents the worker writes itself (content that is not a record). */
  namespace: string;
  /** Puts the message back on the queue, invisible for delayMs (throttling must not burn a dequeue). */
  requeue: (message: WorkMessage, delayMs: number) => Promise<void>;
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
  /** The item took a step of a longer job (a query run submitted or still running) and went back on the queue. */
  | { status: "continued"; delayMs: number; step: string }
  /** The API refused the tenant (consent, permission, setup): the item waits on the queue for the fix. */
  | { status: "blocked"; delayMs: number; reason: string; fix: string }
  | { status: "failed"; reason: string };

/** Records settled against the claims table at once: bounded memory, few round trips. */
const CLAIM_BATCH = 500;
/**
 * Batches whose claims are in flight at once. Each claim is a round trip to the Table service (a few
 * transactions of 100), while mapping a batch takes about 12 ms: one at a time, the round trips set the
 * pace of an item. With several, they overlap each other as well as the mapping (`npm run bench`, claims
 * on Azurite).
 */
export const CLAIMS_IN_FLIGHT = 4;
/**
 * Records already read (a page, a buffered chunk) are mapped without a turn of the event loop, so one
 * is taken this often. The thread pool's work for this item (compression, decompression, file reads)
 * moves one job per turn: each job's callback must run on this thread before the next job starts.
 * Taken once a 500-record batch (about 10 ms of mapping), compression fell behind and the mapping
 * waited for it, 0.2 s on the 60 MB bench blob; taken every 2 ms, neither waits (`npm run bench`).
 */
const TURN_EVERY_MS = 2;
const THROTTLE_BASE_MS = 15_000;
const THROTTLE_MAX_MS = 15 * 60_000;
/** How often an item whose tenant the API refuses tries again: the fix is an operator's, minutes away at best. */
export const BLOCKED_RETRY_MS = 15 * 60_000;

export async function processWork(message: WorkMessage, deps: WorkerDeps): Promise<WorkOutcome> {
  const { feed } = deps;
  const { tenantId, stream, workId } = message;
  const started = deps.now();
  const where = { source: feed.name, tenantId, stream, workId };
  const known = await deps.ledger.get(tenantId, stream, workId);
  // A poisoned row whose message is back was re-driven: it waits like a queued one.
  if (known && known.state !== "queued" && known.state !== "poisoned") return { status: "skipped", reason: `ledger says ${known.state}` };

  const base: LedgerEntry = {
    source: feed.name,
    tenantId,
    stream,
    workId,
    state: "queued",
    created: new Date(message.created),
    ...(message.expires ? { expires: new Date(message.expires) } : {}),
    attempts: (known?.attempts ?? 0) + 1,
  };

  if (message.expires !== undefined && Date.parse(message.expires) <= deps.now()) return expire(base, deps, "the work's expiration has passed");

  let writer: OutputWriter | undefined;
  const output = workOutputPath({ dataset: feed.dataset, ...message });
  try {
    writer = await deps.sink.open(output);
    const fetched = await feed.session.fetch(message, deps.log);
    if (isNextStep(fetched)) {
      await writer.abort(new Error("no records yet: the item took a step"));
      writer = undefined;
      // The ledger first: a failure after the requeue would have the queue retry this message too, and fork the item.
      await deps.ledger.finish({ ...base, step: fetched.step });
      await deps.requeue({ ...message, item: fetched.item }, fetched.delayMs);
      deps.log.info("work took a step; message re-enqueued", { ...where, step: fetched.step, delayMs: fetched.delayMs });
      return { status: "continued", delayMs: fetched.delayMs, step: fetched.step };
    }
    // Read at once: a loop that stops early (an error, a failed claim) closes the records' connection on its way out.
    const counts = await writeRecords(fetched, writer, message, deps);
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
      step: "",
    });
    deps.log.info("work written", { ...where, records: counts.written, duplicates: counts.duplicates, bytes, output });
    return { status: "done", records: counts.written, duplicates: counts.duplicates, pipelineErrors: counts.pipelineErrors, bytes, output: counts.written > 0 ? output : undefined };
  } catch (error) {
    await writer?.abort(error instanceof Error ? error : new Error(String(error)));
    if (error instanceof InvalidContentError) {
      const raw = feed.session.raw;
      return fail(base, deps, error.message, raw && (async () => {
        // Keep the raw bytes for replay; a second download is cheaper than holding every blob in memory.
        const path = failedWorkPath({ dataset: feed.dataset, tenantId, stream, workId });
        await deps.sink.putRaw(path, await raw(message), { source: feed.name, tenantId, stream, workId, error: error.message });
        return path;
      }));
    }
    const failure = feed.session.failure(error);
    if (failure?.errorClass === "throttled") {
      const delayMs = throttleDelay(message.throttled, failure.retryAfterMs, deps.random ?? Math.random, deps.throttleBaseMs);
      // Refused at the gate, nothing was sent: the tenant was held for another request's throttling, which
      // says nothing about this message, so its own backoff (without Retry-After) does not grow.
      const throttled = message.throttled + (failure.sent ? 1 : 0);
      await deps.requeue({ ...message, throttled }, delayMs);
      deps.log.info("work throttled; message re-enqueued", { ...where, delayMs });
      return { status: "throttled", delayMs };
    }
    if (failure?.errorClass === "configuration") {
      // Retrying soon would only fail again, and failing into the poison queue would leave the fix without
      // its work: the item waits on the queue (its row stays queued, counted as backlog) until the fix.
      const reason = (error as Error).message;
      await deps.requeue(message, BLOCKED_RETRY_MS);
      deps.log.error("work blocked by the tenant's configuration; it waits on the queue for the fix", { ...where, error: reason, fix: failure.fix, retryInMs: BLOCKED_RETRY_MS });
      return { status: "blocked", delayMs: BLOCKED_RETRY_MS, reason, fix: failure.fix };
    }
    if (failure?.errorClass === "expired") return expire(base, deps, (error as Error).message);
    if (failure?.errorClass === "notFound") return fail(base, deps, (error as Error).message, undefined);
    throw error; // transient or unknown: the queue retries it, then moves it to the poison queue
  }
}

/**
 * Normalizes the records into batches and settles each batch (claims, then one write of its owned
 * lines) while the next ones are normalized, so that the claims' round trips and the compression overlap
 * the mapping instead of stalling it. Up to CLAIMS_IN_FLIGHT batches are claimed at once, and one is
 * being written (compressed) at a time, in order: memory holds CLAIMS_IN_FLIGHT + 2 batches at most,
 * their buffers reused.
 */
async function writeRecords(fetched: RecordBatches, writer: OutputWriter, message: WorkMessage, deps: WorkerDeps) {
  const { session } = deps.feed;
  const counts = { written: 0, duplicates: 0, pipelineErrors: 0 };
  const now = deps.now();
  const owner = `${message.stream}/${message.workId}`;
  const inDataStream = withDataStream(deps.feed.dataset, deps.namespace);
  const unreadableLine = (record: UnreadableRecord) =>
    `${JSON.stringify(inDataStream(pipelineErrorDocument(undefined, record.message, { now: deps.now, originalText: record.text })))}\n`;
  const spare: LineBatch[] = [];
  /** Batches are kept in order, so the first copy of a record within the item is the one written. */
  const firstCopy = firstCopyFilter();

  /** The write of the batch before, until the writer has taken all of it (backpressure). */
  let writing: Promise<void> = Promise.resolve();
  /** `before`: the batch before's settling, up to the start of its write, so that batches are kept and written in their order. */
  const settle = async (batch: LineBatch, before: Promise<void>) => {
    const { claims } = batch;
    const requests = claims.filter((claim): claim is ClaimRequest => claim !== undefined);
    const owned = requests.length > 0 ? await deps.claims.claim(message.tenantId, owner, requests) : undefined;
    await before;
    const bytes = batch.kept((index) => {
      const claim = claims[index];
      if (claim && (!owned?.has(claim.recordId) || !firstCopy(claim))) {
        counts.duplicates += 1;
        return false;
      }
      counts.written += 1;
      return true;
    });
    await writing;
    // Not awaited here: the batch is compressed while the next one is claimed and normalized.
    writing = quietly(
      (bytes.length > 0 ? writer.write(bytes) : Promise.resolve()).then(() => {
        batch.clear();
        spare.push(batch);
      }),
    );
  };

  /** Batches being settled, oldest first (one taken off the list has been awaited to its end). */
  const settling: Promise<void>[] = [];
  const settleInTurn = (batch: LineBatch) => void settling.push(quietly(settle(batch, settling.at(-1) ?? Promise.resolve())));
  let batch = new LineBatch();
  let nextTurn = performance.now() + TURN_EVERY_MS;
  try {
    for await (const records of fetched) {
      for (const record of records) {
        if (record instanceof UnreadableRecord) {
          batch.add(unreadableLine(record), undefined);
          counts.pipelineErrors += 1;
        } else {
          const parsed = record instanceof ParsedRecord ? record : undefined;
          const value: unknown = parsed ? parsed.value : record;
          // The key first: a record handed on with its text may be mapped in place.
          const key = session.recordKey(value, now);
          const { line, pipelineError } = session.toLine(value, message, parsed?.text);
          if (pipelineError) counts.pipelineErrors += 1;
          batch.add(line, key);
        }
        if (performance.now() >= nextTurn) {
          await new Promise((resolve) => setImmediate(resolve));
          nextTurn = performance.now() + TURN_EVERY_MS;
        }
        if (batch.size >= CLAIM_BATCH) {
          if (settling.length === CLAIMS_IN_FLIGHT) await settling.shift();
          settleInTurn(batch);
          batch = spare.pop() ?? new LineBatch();
        }
      }
    }
    settleInTurn(batch);
    await Promise.all(settling);
    await writing;
  } catch (error) {
    // The caller aborts the writer next: nothing still settling may write to it after that.
    await Promise.allSettled(settling);
    await writing.catch(() => undefined);
    throw error;
  }
  return counts;
}

/**
 * The promise, marked as handled: it is awaited later (before the next batch, or at the end), and a
 * failing read of the records meanwhile must not leave its rejection unhandled.
 */
function quietly<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** The server's Retry-After when it gives one (spread by up to a second), else exponential backoff with jitter. */
export function throttleDelay(times: number, retryAfterMs: number | undefined, random: () => number, baseMs = THROTTLE_BASE_MS): number {
  if (retryAfterMs !== undefined) return retryAfterMs + Math.round(random() * 1000);
  const backoff = Math.min(THROTTLE_MAX_MS, baseMs * 2 ** times);
  return Math.round(backoff / 2 + (random() * backoff) / 2);
}

async function expire(base: LedgerEntry, deps: WorkerDeps, reason: string): Promise<WorkOutcome> {
  await deps.ledger.finish({ ...base, state: "expired", finishedAt: new Date(deps.now()), error: reason });
  deps.log.warn("work expired before it could be fetched; its records are lost at the source", {
    source: base.source,
    tenantId: base.tenantId,
    stream: base.stream,
    workId: base.workId,
    reason,
  });
  return { status: "expired" };
}

async function fail(base: LedgerEntry, deps: WorkerDeps, reason: string, keepRaw: (() => Promise<string>) | undefined): Promise<WorkOutcome> {
  const rawPath = keepRaw ? await keepRaw() : undefined;
  await deps.ledger.finish({ ...base, state: "failed", finishedAt: new Date(deps.now()), error: reason, output: rawPath ?? "" });
  deps.log.error("work failed", { source: base.source, tenantId: base.tenantId, stream: base.stream, workId: base.workId, reason, rawPath });
  return { status: "failed", reason };
}
