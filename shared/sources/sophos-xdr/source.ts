import { z } from "zod";
import { isoDateTime } from "../../config/formats.js";
import { planTimeWindows, windowWorkId } from "../../pipeline/windows.js";
import type { Logger } from "../../util/log.js";
import type { NextStep, Source, SourceSession, StreamRef, TimeWindow, Work } from "../source.js";
import type { SkippedTenant, SophosClient, SophosTenant } from "./client.js";
import { SOPHOS_XDR_DATASET } from "./normalize.js";
import { sophosXdrOffline } from "./offline.js";
import { REACH_MARGIN_MS, SOPHOS_SECRETS, type SophosXdrConfig, readSophosXdr, sophosXdrProblems, sophosXdrSettings } from "./settings.js";
import { SOPHOS_XDR_STREAM, sophosBudget } from "./stream.js";

/**
 * Sophos Central XDR Data Lake IOC detections, for one tenant or every tenant of a partner or
 * organization credential: one stream per tenant; each listing window is one work item, a small state
 * machine carried by its queue message: submit a query run, poll it (back on the queue between polls, so
 * no instance waits on a run), then read its result pages. A run that fails, times out or expires is
 * submitted again; the window stays unwritten until one succeeds.
 */

const window = { from: isoDateTime, to: isoDateTime, apiHost: z.url(), submissions: z.number().int().min(0).max(100) };
const itemSchema = z.discriminatedUnion("step", [
  z.strictObject({ step: z.literal("submit"), ...window }),
  z.strictObject({ step: z.literal("poll"), ...window, runId: z.string().regex(/^[A-Za-z0-9-]{1,100}$/), submittedAt: isoDateTime, polls: z.number().int().min(0).max(100_000) }),
]);
export type SophosXdrItem = z.infer<typeof itemSchema>;

/** A run id no run has: asking for it answers 404 from a tenant that may query, 403 from one that may not. */
const PROBE_RUN_ID = "00000000-0000-0000-0000-000000000000";
/** Runs of one window that may fail before the window is given up to the poison queue (redrive brings it back). */
export const MAX_SUBMISSIONS = 5;
/**
 * A tenant whose runs found nothing over this much time is worth a word: with devices reporting, a Data Lake
 * without one IOC detection for a day usually means Data Lake uploads are off or the role may not query.
 */
const QUIET_SPAN_MS = 24 * 3_600_000;
/** How long a discovered tenant list is used before asking again: tenants come and go rarely. */
const TENANTS_TTL_MS = 15 * 60_000;

export const sophosXdrSource: Source<SophosXdrConfig, SophosXdrItem> = {
  name: "sophos-xdr",
  dataset: SOPHOS_XDR_DATASET,
  settingsPrefix: "SOPHOS_",
  secretSettings: SOPHOS_SECRETS,
  settings: sophosXdrSettings,
  scheduleSetting: "SOPHOS_SCHEDULE",
  problems: sophosXdrProblems,
  configure: readSophosXdr,
  enabled: (config) => config.enabled,
  schedule: (config) => config.schedule,
  requestBudget: sophosBudget,
  item: itemSchema,
  // A window back from the poison queue gets fresh runs: its spent submissions and old run are the reason it was there.
  redriven: ({ from, to, apiHost }) => ({ step: "submit", from, to, apiHost, submissions: 0 }),
  offline: sophosXdrOffline,
  async open(config, deps): Promise<SourceSession<SophosXdrItem>> {
    // Loaded here, not with the feed's definition: the registry (read by `normalize`) stays free of HTTP clients.
    const [{ SophosClient: Client, RunExpiredError, trustedApiHost, sophosFailure }, { sophosXdrRecordKey }, { normalizeSophosXdrToLine }] = await Promise.all([
      import("./client.js"),
      import("./recordKey.js"),
      import("./normalize.js"),
    ]);
    const trust = config.apiBaseUrl ? { origin: new URL(config.apiBaseUrl).origin } : undefined;
    const common = {
      credential: { clientId: config.clientId, clientSecret: config.clientSecret },
      ...(config.idBaseUrl ? { idBaseUrl: config.idBaseUrl } : {}),
      ...(config.apiBaseUrl ? { globalBaseUrl: config.apiBaseUrl } : {}),
      ...(trust ? { trust } : {}),
      dispatcher: deps.dispatcher,
      timeoutMs: deps.requestTimeoutMs,
      gate: deps.gate,
      userAgent: deps.userAgent,
      onRequest: deps.onRequest,
      now: deps.now,
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
    };
    // The worker's client waits out a short hold at the tenant's gate, and goes back on the queue for a longer one.
    const client: SophosClient = new Client({ ...common, maxGateWaitMs: 5_000, maxThrottleRetries: 0, maxTransientRetries: 3 });
    // The lister's (tenants, verify) waits at the gate and retries a throttled answer in place, as the other feeds' listers do.
    const listing: SophosClient = new Client({ ...common, maxThrottleRetries: 3, maxTransientRetries: 3 });
    const allowed = new Set(config.tenantAllowList);
    let discovered: { at: number; tenants: Map<string, SophosTenant>; skipped: SkippedTenant[] } | undefined;
    const reportedSkips = new Set<string>();
    /** Per tenant, the start of the windows read in a row that held no row at all; warned once per tenant. */
    const emptySince = new Map<string, number>();
    const warnedQuiet = new Set<string>();
    const noteRows = (work: Work<SophosXdrItem>, count: number, log: Logger | undefined) => {
      if (count > 0) {
        emptySince.delete(work.tenantId);
        warnedQuiet.delete(work.tenantId);
        return;
      }
      const since = Math.min(emptySince.get(work.tenantId) ?? Number.POSITIVE_INFINITY, Date.parse(work.item.from));
      emptySince.set(work.tenantId, since);
      if (Date.parse(work.item.to) - since < QUIET_SPAN_MS || warnedQuiet.has(work.tenantId)) return;
      warnedQuiet.add(work.tenantId);
      log?.warn("Sophos tenant's Data Lake queries find nothing: check that Data Lake uploads are on for its devices and that the credential's role may run queries", {
        source: "sophos-xdr",
        tenantId: work.tenantId,
        emptySince: new Date(since).toISOString(),
        threshold: config.threshold,
      });
    };
    const context = { now: deps.now, namespace: deps.namespace, preserveOriginal: false, ...(deps.geoip ? { geoip: deps.geoip } : {}) };

    const tenantOf = (work: Work<SophosXdrItem>): SophosTenant => ({ id: work.tenantId, apiHost: work.item.apiHost });
    /** The tenant as discovered; a tenant gone from the list since (a refresh between discovery and listing) fails the stream, so its cursor stays. */
    const knownTenant = (ref: StreamRef): SophosTenant => {
      const tenant = discovered?.tenants.get(ref.tenantId);
      if (!tenant) throw new Error(`Sophos tenant ${ref.tenantId} is no longer in the credential's tenant list; its cursor stays until it is`);
      return tenant;
    };
    const next = (item: SophosXdrItem, delayMs: number, step: string): NextStep<SophosXdrItem> => ({ kind: "next", item, delayMs, step });
    const resubmit = (item: SophosXdrItem, delayMs: number, why: string): NextStep<SophosXdrItem> => {
      const submissions = item.submissions + 1;
      if (submissions >= MAX_SUBMISSIONS) throw new Error(`${why}; the window's query failed ${submissions} times, so it waits in the poison queue for a redrive`);
      return next({ step: "submit", from: item.from, to: item.to, apiHost: item.apiHost, submissions }, delayMs, `${why}; submitting again`);
    };

    return {
      async streams(log) {
        if (!discovered || deps.now() - discovered.at > TENANTS_TTL_MS) {
          const found = await listing.tenants();
          const tenants = found.tenants.filter((tenant) => allowed.size === 0 || allowed.has(tenant.id.toLowerCase()));
          const skipped = found.skipped.filter((tenant) => allowed.size === 0 || allowed.has(tenant.id.toLowerCase()));
          discovered = { at: deps.now(), tenants: new Map(tenants.map((tenant) => [tenant.id.toLowerCase(), tenant])), skipped };
        }
        // Each skipped tenant is told once, to the first caller with a log (the lister).
        for (const skipped of log ? discovered.skipped : []) {
          if (reportedSkips.has(skipped.id)) continue;
          reportedSkips.add(skipped.id);
          log?.warn("Sophos tenant skipped: not collected", { source: "sophos-xdr", tenantId: skipped.id, name: skipped.name, reason: skipped.reason });
        }
        return [...discovered.tenants.keys()].map((tenantId) => ({ tenantId, stream: SOPHOS_XDR_STREAM }));
      },
      plan: (_ref, cursorMs, now) =>
        planTimeWindows({
          now,
          cursorMs,
          delayMs: config.delayMs,
          overlapMs: config.overlapMs,
          initialLookbackMs: config.lookbackMs,
          maxAgeMs: config.lookbackMs,
          // Room for the time a backfill's window waits on the queue before its run: past the limit it is recorded as lost.
          ageMarginMs: Math.min(REACH_MARGIN_MS, config.lookbackMs / 2),
          windowMs: config.windowMs,
        }),
      // One cheap tenant call (a run that does not exist) before the stream is listed: a tenant that refuses
      // queries (403: Partner Assistance off, a trial, no XDR licence) is reported once by the lister with its
      // fix, and gets no windows queued that could only wait on the queue.
      async verify(ref) {
        try {
          await listing.getRun(knownTenant(ref), PROBE_RUN_ID);
        } catch (error) {
          if (!(error instanceof RunExpiredError)) throw error;
        }
      },
      async *list(ref: StreamRef, window: TimeWindow) {
        const tenant = knownTenant(ref);
        const from = new Date(window.start).toISOString();
        yield [
          {
            tenantId: ref.tenantId,
            stream: SOPHOS_XDR_STREAM,
            workId: windowWorkId(window),
            created: from,
            // Past the lookback the Data Lake no longer holds the window: the worker records it as lost at the source.
            expires: new Date(window.start + config.lookbackMs).toISOString(),
            item: { step: "submit", from, to: new Date(window.end).toISOString(), apiHost: tenant.apiHost, submissions: 0 },
          },
        ];
      },
      refuse(work) {
        try {
          trustedApiHost(work.item.apiHost, trust ?? { hostSuffix: ".sophos.com" });
          return undefined;
        } catch (error) {
          return `item.apiHost: ${(error as Error).message}`;
        }
      },
      async fetch(work, log) {
        const { item } = work;
        const tenant = tenantOf(work);
        if (item.step === "submit") {
          const run = await client.submitRun(tenant, { from: Date.parse(item.from), to: Date.parse(item.to), threshold: config.threshold });
          return next({ ...item, step: "poll", runId: run.id, submittedAt: new Date(deps.now()).toISOString(), polls: 0 }, config.pollIntervalMs, `run ${run.id} submitted`);
        }
        let run;
        try {
          run = await client.getRun(tenant, item.runId);
        } catch (error) {
          if (error instanceof RunExpiredError) return resubmit(item, 1_000, `run ${item.runId} expired`);
          throw error;
        }
        if (run.status !== "finished") {
          const waited = deps.now() - Date.parse(item.submittedAt);
          if (waited > config.maxRunWaitMs) return resubmit(item, 1_000, `run ${item.runId} still ${run.status} after ${Math.round(waited / 60_000)} min`);
          return next({ ...item, polls: item.polls + 1 }, config.pollIntervalMs, `run ${item.runId} ${run.status}, poll ${item.polls + 1}`);
        }
        // A failed run is given the time of a poll before the next: Sophos documents no backoff for runs.
        if (run.result !== "succeeded") return resubmit(item, config.pollIntervalMs, `run ${item.runId} finished ${run.result ?? "without a result"}`);
        return rows(client, tenant, item.runId, config.pageSize, (count) => noteRows(work, count, log));
      },
      recordKey: sophosXdrRecordKey,
      toLine: (row) => normalizeSophosXdrToLine(row, context),
      // A run lost or failed while its pages were read is transient: the retry finds it and submits the window again.
      failure: sophosFailure,
    };
  },
};

/** The rows of a finished run, page by page; `done` hears how many there were once every page was read. */
async function* rows(client: SophosClient, tenant: SophosTenant, runId: string, pageSize: number, done: (count: number) => void): AsyncGenerator<readonly unknown[]> {
  let count = 0;
  for await (const page of client.resultPages(tenant, runId, pageSize)) {
    count += page.length;
    yield page;
  }
  done(count);
}
