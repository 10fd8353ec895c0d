import pLimit from "p-limit";
import type { Settings } from "../config/settings.js";
import type { ContentType } from "../entra/clouds.js";
import type { ManagementApiClient } from "../sources/o365-audit/client.js";
import { CONFIGURATION_FIXES, ManagementApiError } from "../sources/o365-audit/errors.js";
import type { ContentItem } from "../sources/o365-audit/schemas.js";
import { planWindows, type Window } from "../sources/o365-audit/windows.js";
import type { CursorStore } from "../state/cursors.js";
import type { ContentLedger } from "../state/ledger.js";
import type { Logger } from "../util/log.js";
import type { ContentMessage } from "./message.js";

/**
 * The timer's logic. For each tenant × content type: re-list from (cursor − overlap) to now in
 * ≤ 24 h windows, skip content the ledger already has, enqueue the rest *then* ledger it, and move
 * the cursor only once a window's pages are all enqueued. Re-listing plus the ledger is what
 * catches content Microsoft publishes late; the order of writes is what makes a crash lose nothing.
 */
export interface ListerDeps {
  api: Pick<ManagementApiClient, "listContent" | "startSubscription">;
  cursors: CursorStore;
  ledger: ContentLedger;
  enqueue: (message: ContentMessage) => Promise<void>;
  settings: Pick<Settings, "tenantIds" | "contentTypes" | "initialLookbackMs" | "relistOverlapMs" | "listConcurrency" | "listBudgetMs">;
  log: Logger;
  now: () => number;
  /** Tenant-wide configuration errors already reported by this process, so each is surfaced once. */
  reported?: Set<string>;
  /** A stop request (the local host's Ctrl-C or SIGTERM): no new stream or window starts after it. */
  signal?: AbortSignal;
}

export interface StreamResult {
  tenantId: string;
  contentType: ContentType;
  listed: number;
  enqueued: number;
  /** Cursor after this run (end of the last fully enqueued window). */
  cursorMs: number | undefined;
  error?: string;
  errorClass?: ManagementApiError["errorClass"];
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
const TENANT_WIDE: ReadonlySet<ManagementApiError["errorClass"]> = new Set(["configuration"]);

export async function listAll(deps: ListerDeps): Promise<ListingSummary> {
  const started = deps.now();
  const deadline = started + deps.settings.listBudgetMs;
  const limit = pLimit(deps.settings.listConcurrency);
  const brokenTenants = new Map<string, StreamResult>();
  let deferred = 0;
  const tasks = deps.settings.tenantIds.flatMap((tenantId) =>
    deps.settings.contentTypes.map((contentType) =>
      limit(async (): Promise<StreamResult | undefined> => {
        if (deps.now() >= deadline || deps.signal?.aborted) {
          deferred += 1;
          return undefined;
        }
        const broken = brokenTenants.get(tenantId);
        if (broken) {
          return { tenantId, contentType, listed: 0, enqueued: 0, cursorMs: undefined, error: `skipped: tenant-wide configuration error (${broken.error})`, errorClass: "configuration", fix: broken.fix };
        }
        const result = await listStream(tenantId, contentType, deadline, deps);
        if (result.errorClass && TENANT_WIDE.has(result.errorClass)) brokenTenants.set(tenantId, result);
        return result;
      }),
    ),
  );
  const streams = (await Promise.all(tasks)).filter((r): r is StreamResult => r !== undefined);
  return {
    streams,
    listed: streams.reduce((n, s) => n + s.listed, 0),
    enqueued: streams.reduce((n, s) => n + s.enqueued, 0),
    failedStreams: streams.filter((s) => s.error).length,
    deferredStreams: deferred,
    durationMs: deps.now() - started,
  };
}

export async function listStream(tenantId: string, contentType: ContentType, deadline: number, deps: ListerDeps): Promise<StreamResult> {
  const result: StreamResult = { tenantId, contentType, listed: 0, enqueued: 0, cursorMs: undefined };
  try {
    const cursor = await deps.cursors.read(tenantId, contentType);
    result.cursorMs = cursor.cursorMs;
    let etag = cursor.etag;
    const plan = planWindows({ now: deps.now(), cursor: cursor.cursorMs, ...pick(deps.settings) });
    if (plan.unreachableBeforeMs !== undefined) {
      deps.log.error("cursor is older than the API's 7-day reach: content published in the gap cannot be listed any more", {
        tenantId,
        contentType,
        cursor: new Date(cursor.cursorMs as number).toISOString(),
        listableFrom: new Date(plan.unreachableBeforeMs).toISOString(),
      });
    }
    let windows = plan.windows;
    let replanned = false;
    for (let i = 0; i < windows.length; i += 1) {
      const window = windows[i] as Window;
      let counts: { listed: number; enqueued: number };
      try {
        counts = await listWindow(tenantId, contentType, window, deps);
      } catch (error) {
        // AF20030/AF20055: the window drifted out of the API's limits while we worked; plan again from now, once.
        if (replanned || !(error instanceof ManagementApiError) || error.errorClass !== "badWindow") throw error;
        replanned = true;
        windows = planWindows({ now: deps.now(), cursor: result.cursorMs, ...pick(deps.settings) }).windows;
        i = -1;
        continue;
      }
      result.listed += counts.listed;
      result.enqueued += counts.enqueued;
      const advanced = await deps.cursors.advance(tenantId, contentType, window.end, etag, deps.now());
      if (!advanced.moved) {
        // Another run is ahead of us; its cursor stands and the rest of our windows are its business.
        result.cursorMs = advanced.storedMs;
        break;
      }
      etag = advanced.etag;
      result.cursorMs = window.end;
      if (deps.now() >= deadline || deps.signal?.aborted) break;
    }
    await purgeLedger(tenantId, contentType, deps);
  } catch (error) {
    await reportStreamError(result, error, deps);
  }
  return result;
}

/** The stream's ledger rows past retention go once it is listed; a failure only warns, and the next run tries again. */
async function purgeLedger(tenantId: string, contentType: ContentType, deps: ListerDeps): Promise<void> {
  try {
    const purged = await deps.ledger.purge(tenantId, contentType, deps.now());
    if (purged > 0) deps.log.info("purged ledger rows past retention", { tenantId, contentType, purged });
  } catch (error) {
    deps.log.warn("could not purge ledger rows past retention; the next run tries again", { tenantId, contentType, error: String(error) });
  }
}

async function listWindow(tenantId: string, contentType: ContentType, window: Window, deps: ListerDeps) {
  const known = await deps.ledger.knownIds(tenantId, contentType, window.start - LEDGER_SLACK_MS, window.end + LEDGER_SLACK_MS);
  const counts = { listed: 0, enqueued: 0 };
  const enqueue = pLimit(ENQUEUE_CONCURRENCY);
  const pages = await withSubscription(tenantId, contentType, deps, () => deps.api.listContent(tenantId, contentType, window));
  for await (const page of pages) {
    counts.listed += page.length;
    const fresh = page.filter((item) => !known.has(item.contentId));
    await Promise.all(
      fresh.map((item) =>
        enqueue(async () => {
          await deps.enqueue(toMessage(tenantId, item));
          await deps.ledger.recordQueued(
            { tenantId, contentType, contentId: item.contentId, contentCreated: new Date(item.contentCreated), contentExpiration: new Date(item.contentExpiration) },
            deps.now(),
          );
          known.add(item.contentId);
          counts.enqueued += 1;
        }),
      ),
    );
  }
  return counts;
}

/**
 * Lists pages, starting the subscription when the API says there is none (AF20022) or it is
 * disabled (AF20023), then listing again. The generator is pulled once here to surface that error early.
 */
async function withSubscription(
  tenantId: string,
  contentType: ContentType,
  deps: ListerDeps,
  list: () => AsyncGenerator<ContentItem[]>,
): Promise<AsyncIterable<ContentItem[]>> {
  const firstPage = async (pages: AsyncGenerator<ContentItem[]>) => ({ pages, first: await pages.next() });
  let attempt: { pages: AsyncGenerator<ContentItem[]>; first: IteratorResult<ContentItem[]> };
  try {
    attempt = await firstPage(list());
  } catch (error) {
    if (!(error instanceof ManagementApiError) || error.errorClass !== "noSubscription") throw error;
    deps.log.info("starting subscription", { tenantId, contentType, reason: error.code });
    await deps.api.startSubscription(tenantId, contentType);
    attempt = await firstPage(list());
  }
  return (async function* () {
    if (!attempt.first.done) yield attempt.first.value;
    yield* attempt.pages;
  })();
}

function toMessage(tenantId: string, item: ContentItem): ContentMessage {
  return {
    v: 1,
    tenantId,
    contentType: item.contentType,
    contentId: item.contentId,
    contentUri: item.contentUri,
    contentCreated: item.contentCreated,
    contentExpiration: item.contentExpiration,
    throttled: 0,
  };
}

async function reportStreamError(result: StreamResult, error: unknown, deps: ListerDeps): Promise<void> {
  const { tenantId, contentType } = result;
  const apiError = error instanceof ManagementApiError ? error : undefined;
  result.error = error instanceof Error ? error.message : String(error);
  result.errorClass = apiError?.errorClass ?? "fatal";
  result.fix = fixFor(result.errorClass, apiError?.code);
  if (apiError?.errorClass === "configuration") {
    const key = `${tenantId}:${apiError.code ?? apiError.status}`;
    if (!deps.reported?.has(key)) {
      deps.reported?.add(key);
      deps.log.error("tenant cannot be listed until its configuration is fixed", { tenantId, contentType, error: result.error, fix: result.fix });
    }
  } else {
    deps.log.warn("listing failed; the cursor stays and the next run retries", { tenantId, contentType, error: result.error });
  }
  try {
    await deps.cursors.recordError(tenantId, contentType, result.error, deps.now());
  } catch (recordError) {
    deps.log.warn("could not record the listing error on the cursor row", { tenantId, contentType, error: String(recordError) });
  }
}

/** What to do about a stream that could not be listed, by the class of its error. */
function fixFor(errorClass: ManagementApiError["errorClass"], code: string | undefined): string {
  if (errorClass === "configuration") return (code && CONFIGURATION_FIXES[code]) ?? "check the app registration, its consent in this tenant, and O365_CLOUD";
  if (errorClass === "transient" || errorClass === "throttled") return "nothing to change if it passes: the next run retries from the same cursor; if it persists, check the network path to the login and API hosts";
  return "the API answered in a way this version does not expect: report it with the error text";
}

function pick(settings: ListerDeps["settings"]) {
  return { initialLookbackMs: settings.initialLookbackMs, relistOverlapMs: settings.relistOverlapMs };
}
