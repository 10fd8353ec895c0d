import pLimit from "p-limit";
import type { Failure, FailureClass, SourceSession, StreamRef, TimeWindow } from "../sources/source.js";
import type { CursorStore } from "../state/cursors.js";
import type { WorkLedger } from "../state/ledger.js";
import type { Logger } from "../util/log.js";
import { toMessage, type WorkMessage } from "./message.js";

/**
 * The timer's logic, for any feed. For each of a feed's streams: plan windows from (cursor − overlap)
 * to now, list each window's work, skip what the ledger already has, enqueue the rest *then* ledger it,
 * and move the cursor only once a window's work is all enqueued. Re-listing plus the ledger is what
 * catches work an API publishes late; the order of writes is what makes a crash lose nothing.
 */
export interface ListedFeed {
  name: string;
  session: Pick<SourceSession<unknown>, "streams" | "verify" | "plan" | "list" | "failure">;
}

export interface ListerDeps {
  feeds: ListedFeed[];
  cursors: CursorStore;
  ledger: WorkLedger;
  enqueue: (message: WorkMessage) => Promise<void>;
  settings: { listConcurrency: number; listBudgetMs: number };
  log: Logger;
  now: () => number;
  /** Tenant-wide configuration errors already reported by this process, so each is surfaced once. */
  reported?: Set<string>;
  /** A stop request (the local host's Ctrl-C or SIGTERM): no new stream or window starts after it. */
  signal?: AbortSignal;
}

export interface StreamResult extends StreamRef {
  source: string;
  listed: number;
  enqueued: number;
  /** Cursor after this run (end of the last fully enqueued window). */
  cursorMs: number | undefined;
  error?: string;
  errorClass?: FailureClass;
  /** What an operator should do about the error. */
  fix?: string;
}

export interface ListingSummary {
  streams: StreamResult[];
  listed: number;
  enqueued: number;
  failedStreams: number;
  /** Streams not started because the run's time budget ran out; the next run starts with them. */
  deferredStreams: number;
  durationMs: number;
}

/** Extra room around a window when asking the ledger what it knows, against clock and rounding skew. */
const LEDGER_SLACK_MS = 3_600_000;
const ENQUEUE_CONCURRENCY = 8;
const UNEXPECTED_FIX = "the API answered in a way this version does not expect: report it with the error text";

export async function listAll(deps: ListerDeps): Promise<ListingSummary> {
  const started = deps.now();
  const deadline = started + deps.settings.listBudgetMs;
  const limit = pLimit(deps.settings.listConcurrency);
  /** Per feed and tenant, the configuration error that makes its other streams pointless to try. */
  const brokenTenants = new Map<string, StreamResult>();
  let deferred = 0;
  const discovered = await Promise.all(deps.feeds.map((feed) => discoverStreams(feed, deps)));
  const tasks = deps.feeds.flatMap((feed, i) => {
    const found = discovered[i];
    return !Array.isArray(found) ? [] : found.map((ref) =>
      limit(async (): Promise<StreamResult | undefined> => {
        if (deps.now() >= deadline || deps.signal?.aborted) {
          deferred += 1;
          return undefined;
        }
        const tenantKey = `${feed.name}|${ref.tenantId}`;
        const broken = brokenTenants.get(tenantKey);
        if (broken) {
          return { source: feed.name, ...ref, listed: 0, enqueued: 0, cursorMs: undefined, error: `skipped: tenant-wide configuration error (${broken.error})`, errorClass: "configuration", fix: broken.fix ?? "" };
        }
        const result = await listStream(feed, ref, deadline, deps);
        if (result.errorClass === "configuration") brokenTenants.set(tenantKey, result);
        return result;
      }),
    );
  });
  const unfound = discovered.flatMap((found) => (Array.isArray(found) ? [] : [found]));
  const streams = [...unfound, ...(await Promise.all(tasks)).filter((r): r is StreamResult => r !== undefined)];
  return {
    streams,
    listed: streams.reduce((n, s) => n + s.listed, 0),
    enqueued: streams.reduce((n, s) => n + s.enqueued, 0),
    failedStreams: streams.filter((s) => s.error).length,
    deferredStreams: deferred,
    durationMs: deps.now() - started,
  };
}

/** The stream of a feed whose tenants could not be found (its credential refused): what the summary names. */
export const ALL_STREAMS = "*";

/**
 * A feed's streams; a feed that finds its tenants through its API (a partner credential) may fail here,
 * and is then one failed result naming the feed, reported once like a tenant's configuration error.
 */
async function discoverStreams(feed: ListedFeed, deps: ListerDeps): Promise<StreamRef[] | StreamResult> {
  try {
    return await feed.session.streams(deps.log);
  } catch (error) {
    const result: StreamResult = { source: feed.name, tenantId: ALL_STREAMS, stream: ALL_STREAMS, listed: 0, enqueued: 0, cursorMs: undefined };
    const failure = feed.session.failure(error);
    describeFailure(result, failure, error);
    // A configuration error is reported once per process; anything else each time, as a stream's failure is.
    const key = `${feed.name}:${ALL_STREAMS}:${failure?.code ?? result.error}`;
    if (result.errorClass !== "configuration") deps.log.warn("the feed's tenants could not be found this time; the next run retries", { source: feed.name, error: result.error });
    else if (!deps.reported?.has(key)) {
      deps.reported?.add(key);
      deps.log.error("the feed's tenants could not be found; none of them is listed", { source: feed.name, error: result.error, fix: result.fix });
    }
    return result;
  }
}

export async function listStream(feed: ListedFeed, ref: StreamRef, deadline: number, deps: ListerDeps): Promise<StreamResult> {
  const { tenantId, stream } = ref;
  const result: StreamResult = { source: feed.name, tenantId, stream, listed: 0, enqueued: 0, cursorMs: undefined };
  try {
    await feed.session.verify?.(ref, deps.now());
    const cursor = await deps.cursors.read(tenantId, stream);
    result.cursorMs = cursor.cursorMs;
    let etag = cursor.etag;
    const plan = feed.session.plan(ref, cursor.cursorMs, deps.now());
    if (plan.unreachableBeforeMs !== undefined) {
      deps.log.error("cursor is older than the API's reach: records published in the gap cannot be listed any more", {
        source: feed.name,
        tenantId,
        stream,
        cursor: new Date(cursor.cursorMs as number).toISOString(),
        listableFrom: new Date(plan.unreachableBeforeMs).toISOString(),
      });
    }
    let windows = plan.windows;
    let replanned = false;
    for (let i = 0; i < windows.length; i += 1) {
      const window = windows[i] as TimeWindow;
      let counts: { listed: number; enqueued: number };
      try {
        counts = await listWindow(feed, ref, window, deps);
      } catch (error) {
        // The window drifted out of the API's limits while we worked; plan again from now, once.
        if (replanned || feed.session.failure(error)?.errorClass !== "badWindow") throw error;
        replanned = true;
        windows = feed.session.plan(ref, result.cursorMs, deps.now()).windows;
        i = -1;
        continue;
      }
      result.listed += counts.listed;
      result.enqueued += counts.enqueued;
      const advanced = await deps.cursors.advance(feed.name, tenantId, stream, window.end, etag, deps.now());
      if (!advanced.moved) {
        // Another run is ahead of us; its cursor stands and the rest of our windows are its business.
        result.cursorMs = advanced.storedMs;
        break;
      }
      etag = advanced.etag;
      result.cursorMs = window.end;
      if (deps.now() >= deadline || deps.signal?.aborted) break;
    }
    await purgeLedger(feed.name, ref, deps);
  } catch (error) {
    await reportStreamError(result, feed.session.failure(error), error, deps);
  }
  return result;
}

/** The stream's ledger rows past retention go once it is listed; a failure only warns, and the next run tries again. */
async function purgeLedger(source: string, { tenantId, stream }: StreamRef, deps: ListerDeps): Promise<void> {
  try {
    const purged = await deps.ledger.purge(tenantId, stream, deps.now());
    if (purged > 0) deps.log.info("purged ledger rows past retention", { source, tenantId, stream, purged });
  } catch (error) {
    deps.log.warn("could not purge ledger rows past retention; the next run tries again", { source, tenantId, stream, error: String(error) });
  }
}

async function listWindow(feed: ListedFeed, ref: StreamRef, window: TimeWindow, deps: ListerDeps) {
  const known = await deps.ledger.knownIds(ref.tenantId, ref.stream, window.start - LEDGER_SLACK_MS, window.end + LEDGER_SLACK_MS);
  const counts = { listed: 0, enqueued: 0 };
  const enqueue = pLimit(ENQUEUE_CONCURRENCY);
  for await (const page of feed.session.list(ref, window, deps.log)) {
    counts.listed += page.length;
    const fresh = page.filter((work) => !known.has(work.workId));
    await Promise.all(
      fresh.map((work) =>
        enqueue(async () => {
          await deps.enqueue(toMessage(feed.name, work));
          const { tenantId, stream, workId } = work;
          await deps.ledger.recordQueued(
            { source: feed.name, tenantId, stream, workId, created: new Date(work.created), ...(work.expires ? { expires: new Date(work.expires) } : {}) },
            deps.now(),
          );
          known.add(work.workId);
          counts.enqueued += 1;
        }),
      ),
    );
  }
  return counts;
}

/** A result's error, its class and its fix, from its feed's reading of it (an error the feed does not know is fatal). */
function describeFailure(result: StreamResult, failure: Failure | undefined, error: unknown): asserts result is StreamResult & Required<Pick<StreamResult, "error" | "errorClass" | "fix">> {
  result.error = error instanceof Error ? error.message : String(error);
  result.errorClass = failure?.errorClass ?? "fatal";
  result.fix = failure?.fix ?? UNEXPECTED_FIX;
}

async function reportStreamError(result: StreamResult, failure: Failure | undefined, error: unknown, deps: ListerDeps): Promise<void> {
  const { source, tenantId, stream } = result;
  describeFailure(result, failure, error);
  if (result.errorClass === "configuration") {
    const key = `${source}:${tenantId}:${failure?.code ?? result.error}`;
    if (!deps.reported?.has(key)) {
      deps.reported?.add(key);
      deps.log.error("tenant cannot be listed until its configuration is fixed", { source, tenantId, stream, error: result.error, fix: result.fix });
    }
  } else {
    deps.log.warn("listing failed; the cursor stays and the next run retries", { source, tenantId, stream, error: result.error });
  }
  try {
    await deps.cursors.recordError(source, tenantId, stream, result.error, deps.now());
  } catch (recordError) {
    deps.log.warn("could not record the listing error on the cursor row", { source, tenantId, stream, error: String(recordError) });
  }
}
