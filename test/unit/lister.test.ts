import { describe, expect, it } from "vitest";
import { type ListedFeed, listAll, type ListerDeps } from "../../shared/pipeline/lister.js";
import type { WorkMessage } from "../../shared/pipeline/message.js";
import type { Failure, FailureClass, ListingPlan, StreamRef, TimeWindow, Work } from "../../shared/sources/source.js";
import type { AdvanceResult, Cursor, CursorStore } from "../../shared/state/cursors.js";
import type { LedgerKeys, WorkLedger } from "../../shared/state/ledger.js";
import { Clock, recordingLogger } from "../helpers/harness.js";

/**
 * The lister against in-memory feeds, cursors and ledger: what it plans, enqueues, ledgers and
 * reports for any feed, without storage or an API.
 */

const H = 3_600_000;
const T0 = Date.parse("2026-03-01T12:00:00.000Z");
const A = "tenant-a";
const B = "tenant-b";

/** An error a fake feed's client throws; the feed reads its class back in `failure`. */
class FeedError extends Error {
  constructor(
    readonly errorClass: FailureClass,
    readonly code: string,
  ) {
    super(`${errorClass} (${code})`);
  }
}

type Lister = (ref: StreamRef, window: TimeWindow, call: number) => Work<{ n: number }>[] | Error;

/**
 * A feed whose streams list hourly windows from the cursor (or two hours back) to now, each window
 * holding one work item per hour start unless `lister` says otherwise (a page, or an error to throw).
 */
function fakeFeed(name: string, streams: StreamRef[], lister?: Lister) {
  const plans: { ref: StreamRef; cursorMs: number | undefined; now: number }[] = [];
  const listed: { ref: StreamRef; window: TimeWindow }[] = [];
  let calls = 0;
  const session: ListedFeed["session"] = {
    streams: () => streams,
    plan(ref, cursorMs, now): ListingPlan {
      plans.push({ ref, cursorMs, now });
      const windows: TimeWindow[] = [];
      for (let start = cursorMs ?? now - 2 * H; start < now; start += H) windows.push({ start, end: Math.min(start + H, now) });
      return { windows };
    },
    async *list(ref, window) {
      listed.push({ ref, window });
      const page = lister?.(ref, window, (calls += 1)) ?? [work(ref, window.start)];
      if (page instanceof Error) throw page;
      yield page;
    },
    failure(error): Failure | undefined {
      return error instanceof FeedError ? { errorClass: error.errorClass, fix: `fix for ${error.code}`, code: error.code, sent: true } : undefined;
    },
  };
  return { feed: { name, session } satisfies ListedFeed, plans, listed };
}

function work(ref: StreamRef, createdMs: number, id = `${ref.stream}-${createdMs}`): Work<{ n: number }> {
  return { ...ref, workId: id, created: new Date(createdMs).toISOString(), item: { n: createdMs } };
}

/** Cursors keyed as the table keys them: (tenant, stream). */
function memoryCursors() {
  const rows = new Map<string, { source: string | undefined; cursorMs: number | undefined; etag: number; lastError: string | undefined }>();
  const key = (tenantId: string, stream: string) => `${tenantId}|${stream}`;
  const store = {
    rows,
    async read(tenantId: string, stream: string): Promise<Cursor> {
      const row = rows.get(key(tenantId, stream));
      return { cursorMs: row?.cursorMs, etag: row ? String(row.etag) : undefined, lastError: row?.lastError, lastListedAt: undefined };
    },
    async advance(source: string, tenantId: string, stream: string, toMs: number, etag: string | undefined): Promise<AdvanceResult> {
      const row = rows.get(key(tenantId, stream));
      if (row?.cursorMs !== undefined && (String(row.etag) !== etag || row.cursorMs >= toMs)) return { moved: false, storedMs: row.cursorMs };
      const next = { source, cursorMs: toMs, etag: (row?.etag ?? 0) + 1, lastError: undefined };
      rows.set(key(tenantId, stream), next);
      return { moved: true, etag: String(next.etag) };
    },
    async recordError(source: string, tenantId: string, stream: string, message: string): Promise<void> {
      const row = rows.get(key(tenantId, stream)) ?? { source, cursorMs: undefined, etag: 0, lastError: undefined };
      rows.set(key(tenantId, stream), { ...row, source, lastError: message });
    },
  };
  return store;
}

function memoryLedger() {
  const rows: (LedgerKeys & { state: "queued" })[] = [];
  const ledger = {
    rows,
    async knownIds(tenantId: string, stream: string, from: number, to: number): Promise<Set<string>> {
      return new Set(rows.filter((r) => r.tenantId === tenantId && r.stream === stream && +r.created >= from && +r.created <= to).map((r) => r.workId));
    },
    async recordQueued(entry: LedgerKeys): Promise<boolean> {
      rows.push({ ...entry, state: "queued" });
      return true;
    },
    async purge(): Promise<number> {
      return 0;
    },
  };
  return ledger;
}

function setup(feeds: ListedFeed[], settings: Partial<ListerDeps["settings"]> = {}) {
  const clock = new Clock(T0);
  const cursors = memoryCursors();
  const ledger = memoryLedger();
  const sent: WorkMessage[] = [];
  const log = recordingLogger();
  const reported = new Set<string>();
  const deps: ListerDeps = {
    feeds,
    cursors: cursors as unknown as CursorStore,
    ledger: ledger as unknown as WorkLedger,
    enqueue: async (message) => void sent.push(message),
    // One stream at a time: the order of streams, and what an earlier one's failure skips, is fixed.
    settings: { listConcurrency: 1, listBudgetMs: 60_000, ...settings },
    log,
    now: clock.now,
    reported,
  };
  return { deps, clock, cursors, ledger, sent, log };
}

describe("listing any feed", () => {
  it("enqueues each window's work in the v2 envelope of its feed, ledgers it, and moves the cursor to the window's end", async () => {
    const { feed } = fakeFeed("fake-feed", [{ tenantId: A, stream: "S1" }]);
    const { deps, cursors, ledger, sent } = setup([feed]);
    const summary = await listAll(deps);
    expect(sent).toEqual([
      { v: 2, source: "fake-feed", tenantId: A, stream: "S1", workId: `S1-${T0 - 2 * H}`, created: new Date(T0 - 2 * H).toISOString(), throttled: 0, item: { n: T0 - 2 * H } },
      { v: 2, source: "fake-feed", tenantId: A, stream: "S1", workId: `S1-${T0 - H}`, created: new Date(T0 - H).toISOString(), throttled: 0, item: { n: T0 - H } },
    ]);
    expect(ledger.rows.map((r) => [r.source, r.tenantId, r.stream, r.workId])).toEqual(sent.map((m) => [m.source, m.tenantId, m.stream, m.workId]));
    expect(cursors.rows.get(`${A}|S1`)).toMatchObject({ source: "fake-feed", cursorMs: T0 });
    expect(summary).toMatchObject({ listed: 2, enqueued: 2, failedStreams: 0, deferredStreams: 0 });
    expect(summary.streams).toEqual([{ source: "fake-feed", tenantId: A, stream: "S1", listed: 2, enqueued: 2, cursorMs: T0 }]);
  });

  it("carries a work item's expiry to the message and the ledger", async () => {
    const expires = new Date(T0 + 7 * 24 * H).toISOString();
    const { feed } = fakeFeed("fake-feed", [{ tenantId: A, stream: "S1" }], (ref, window) => [{ ...work(ref, window.start), expires }]);
    const { deps, ledger, sent } = setup([feed]);
    await listAll(deps);
    expect(sent.map((m) => m.expires)).toEqual([expires, expires]);
    expect(ledger.rows.map((r) => r.expires)).toEqual([new Date(expires), new Date(expires)]);
  });

  it("plans from the cursor on the next run, and skips work the ledger already has", async () => {
    // Every window lists the same item: the ledger keeps it from being enqueued twice.
    const { feed, plans } = fakeFeed("fake-feed", [{ tenantId: A, stream: "S1" }], (ref) => [work(ref, T0 - H, "same")]);
    const { deps, clock, sent } = setup([feed]);
    await listAll(deps);
    clock.advance(H);
    const second = await listAll(deps);
    expect(plans.map((p) => p.cursorMs)).toEqual([undefined, T0]);
    expect(sent.map((m) => m.workId)).toEqual(["same"]);
    expect(second.streams[0]).toMatchObject({ listed: 1, enqueued: 0, cursorMs: T0 + H });
  });

  it("lists every stream of every feed, and names the feed of each result", async () => {
    const one = fakeFeed("feed-one", [{ tenantId: A, stream: "S1" }, { tenantId: B, stream: "S1" }]);
    const two = fakeFeed("feed-two", [{ tenantId: A, stream: "T1" }]);
    const { deps } = setup([one.feed, two.feed], { listConcurrency: 4 });
    const summary = await listAll(deps);
    expect(summary.streams.map((s) => [s.source, s.tenantId, s.stream, s.enqueued])).toEqual([
      ["feed-one", A, "S1", 2],
      ["feed-one", B, "S1", 2],
      ["feed-two", A, "T1", 2],
    ]);
  });

  describe("a window the API no longer accepts (badWindow)", () => {
    it("plans again from now, once, and lists the new plan", async () => {
      const { feed, plans, listed } = fakeFeed("fake-feed", [{ tenantId: A, stream: "S1" }], (ref, window, call) => {
        if (call === 1) {
          clock.advance(10 * 60_000); // time passed while the window was listed
          return new FeedError("badWindow", "400");
        }
        return [work(ref, window.start)];
      });
      const { deps, clock, cursors, sent } = setup([feed], { listBudgetMs: H });
      const summary = await listAll(deps);
      expect(plans.map((p) => [p.cursorMs, p.now])).toEqual([
        [undefined, T0],
        [undefined, T0 + 10 * 60_000],
      ]);
      expect(listed.map((l) => l.window.start)).toEqual([T0 - 2 * H, T0 + 10 * 60_000 - 2 * H, T0 + 10 * 60_000 - H]);
      expect(sent).toHaveLength(2);
      expect(cursors.rows.get(`${A}|S1`)?.cursorMs).toBe(T0 + 10 * 60_000);
      expect(summary.streams[0]).toMatchObject({ listed: 2, enqueued: 2, cursorMs: T0 + 10 * 60_000 });
      expect(summary.streams[0]).not.toHaveProperty("error");
    });

    it("replans from the cursor the run has reached, not from where it started", async () => {
      const { feed, plans } = fakeFeed("fake-feed", [{ tenantId: A, stream: "S1" }], (ref, window, call) => (call === 2 ? new FeedError("badWindow", "400") : [work(ref, window.start)]));
      const { deps } = setup([feed]);
      await listAll(deps);
      expect(plans.map((p) => p.cursorMs)).toEqual([undefined, T0 - H]);
    });

    it("gives up when the new plan is refused too, keeping the cursor where the last enqueued window ended", async () => {
      const { feed, plans } = fakeFeed("fake-feed", [{ tenantId: A, stream: "S1" }], () => new FeedError("badWindow", "400"));
      const { deps, cursors, sent, log } = setup([feed]);
      const summary = await listAll(deps);
      expect(plans).toHaveLength(2);
      expect(sent).toEqual([]);
      expect(summary.streams).toEqual([
        { source: "fake-feed", tenantId: A, stream: "S1", listed: 0, enqueued: 0, cursorMs: undefined, error: "badWindow (400)", errorClass: "badWindow", fix: "fix for 400" },
      ]);
      expect(cursors.rows.get(`${A}|S1`)).toMatchObject({ source: "fake-feed", cursorMs: undefined, lastError: "badWindow (400)" });
      expect(log.lines.filter((l) => l.level === "warn")).toEqual([
        expect.objectContaining({ message: "listing failed; the cursor stays and the next run retries", properties: expect.objectContaining({ source: "fake-feed", tenantId: A, stream: "S1" }) }),
      ]);
    });

    it("does not replan for other failures", async () => {
      const { feed, plans } = fakeFeed("fake-feed", [{ tenantId: A, stream: "S1" }], () => new FeedError("transient", "503"));
      const { deps } = setup([feed]);
      const summary = await listAll(deps);
      expect(plans).toHaveLength(1);
      expect(summary.streams[0]).toMatchObject({ errorClass: "transient", fix: "fix for 503" });
    });
  });

  describe("a tenant-wide configuration error", () => {
    const failsFor =
      (source: string, tenantId: string): Lister =>
      (ref, window) =>
        ref.tenantId === tenantId ? new FeedError("configuration", `${source}-AF50000`) : [work(ref, window.start)];

    it("skips the tenant's other streams of the same feed, but not another tenant's or another feed's", async () => {
      const audit = fakeFeed("feed-one", [{ tenantId: A, stream: "S1" }, { tenantId: A, stream: "S2" }, { tenantId: B, stream: "S1" }], failsFor("feed-one", A));
      const other = fakeFeed("feed-two", [{ tenantId: A, stream: "T1" }]);
      const { deps, log } = setup([audit.feed, other.feed]);
      const summary = await listAll(deps);
      expect(summary.streams).toEqual([
        { source: "feed-one", tenantId: A, stream: "S1", listed: 0, enqueued: 0, cursorMs: undefined, error: "configuration (feed-one-AF50000)", errorClass: "configuration", fix: "fix for feed-one-AF50000" },
        {
          source: "feed-one",
          tenantId: A,
          stream: "S2",
          listed: 0,
          enqueued: 0,
          cursorMs: undefined,
          error: "skipped: tenant-wide configuration error (configuration (feed-one-AF50000))",
          errorClass: "configuration",
          fix: "fix for feed-one-AF50000",
        },
        { source: "feed-one", tenantId: B, stream: "S1", listed: 2, enqueued: 2, cursorMs: T0 },
        { source: "feed-two", tenantId: A, stream: "T1", listed: 2, enqueued: 2, cursorMs: T0 },
      ]);
      // The skipped stream sent nothing to the API.
      expect(audit.listed.map((l) => [l.ref.tenantId, l.ref.stream])).toEqual([
        [A, "S1"],
        [B, "S1"],
        [B, "S1"],
      ]);
      expect(summary.failedStreams).toBe(2);
      expect(log.lines.filter((l) => l.level === "error")).toEqual([
        {
          level: "error",
          message: "tenant cannot be listed until its configuration is fixed",
          properties: { source: "feed-one", tenantId: A, stream: "S1", error: "configuration (feed-one-AF50000)", fix: "fix for feed-one-AF50000" },
        },
      ]);
    });

    it("is not skipped in another feed that fails the same way: each feed reports its own", async () => {
      const one = fakeFeed("feed-one", [{ tenantId: A, stream: "S1" }], failsFor("feed-one", A));
      const two = fakeFeed("feed-two", [{ tenantId: A, stream: "T1" }, { tenantId: A, stream: "T2" }], failsFor("feed-two", A));
      const { deps, log } = setup([one.feed, two.feed]);
      const summary = await listAll(deps);
      expect(summary.streams.map((s) => [s.source, s.stream, s.error])).toEqual([
        ["feed-one", "S1", "configuration (feed-one-AF50000)"],
        ["feed-two", "T1", "configuration (feed-two-AF50000)"],
        ["feed-two", "T2", "skipped: tenant-wide configuration error (configuration (feed-two-AF50000))"],
      ]);
      expect(two.listed.map((l) => l.ref.stream)).toEqual(["T1"]);
      expect(log.lines.filter((l) => l.level === "error").map((l) => l.properties?.source)).toEqual(["feed-one", "feed-two"]);
    });

    it("is logged once per process, however many runs meet it", async () => {
      const one = fakeFeed("feed-one", [{ tenantId: A, stream: "S1" }], failsFor("feed-one", A));
      const { deps, log } = setup([one.feed]);
      await listAll(deps);
      await listAll(deps);
      expect(log.lines.filter((l) => l.level === "error")).toHaveLength(1);
    });
  });

  it("reports an error its feed does not know as fatal, with the generic fix, and records it on the cursor", async () => {
    const { feed } = fakeFeed("fake-feed", [{ tenantId: A, stream: "S1" }], () => new Error("socket hang up"));
    const { deps, cursors } = setup([feed]);
    const summary = await listAll(deps);
    expect(summary.streams[0]).toMatchObject({ source: "fake-feed", error: "socket hang up", errorClass: "fatal", fix: expect.stringMatching(/report it/) });
    expect(cursors.rows.get(`${A}|S1`)).toMatchObject({ source: "fake-feed", lastError: "socket hang up" });
  });

  it("starts no stream once the budget is spent, and counts those left for the next run", async () => {
    const { feed } = fakeFeed("fake-feed", [{ tenantId: A, stream: "S1" }, { tenantId: A, stream: "S2" }, { tenantId: B, stream: "S1" }], (ref, window) => {
      clock.advance(40_000);
      return [work(ref, window.start)];
    });
    const { deps, clock } = setup([feed], { listBudgetMs: 60_000 });
    const summary = await listAll(deps);
    // S1 lists its first window (40 s) and its second (80 s, past the budget), then stops; nothing else starts.
    expect(summary.streams.map((s) => [s.stream, s.enqueued])).toEqual([["S1", 2]]);
    expect(summary.deferredStreams).toBe(2);
  });

  it("takes a feed whose tenants cannot be found as one failed result naming the feed, logged once, while other feeds list", async () => {
    const found = fakeFeed("partner-feed", []);
    const refusing = { ...found.feed, session: { ...found.feed.session, streams: async () => Promise.reject(new FeedError("configuration", "401")) } };
    const other = fakeFeed("other-feed", [{ tenantId: A, stream: "S1" }]);
    const { deps, log, sent } = setup([refusing, other.feed]);
    const summary = await listAll(deps);
    await listAll(deps);
    expect(summary.streams.map((s) => [s.source, s.tenantId, s.stream, s.errorClass, s.fix])).toEqual([
      ["partner-feed", "*", "*", "configuration", "fix for 401"],
      ["other-feed", A, "S1", undefined, undefined],
    ]);
    expect(summary.failedStreams).toBe(1);
    expect(sent.every((m) => m.source === "other-feed")).toBe(true);
    expect(log.lines.filter((l) => l.level === "error").map((l) => l.properties?.source)).toEqual(["partner-feed"]);
  });

  it("awaits a feed's streams when it finds them through its API", async () => {
    const { feed } = fakeFeed("async-feed", []);
    const asyncFeed = { ...feed, session: { ...feed.session, streams: async () => [{ tenantId: B, stream: "S9" }] } };
    const { deps, sent } = setup([asyncFeed]);
    const summary = await listAll(deps);
    expect(summary.streams.map((s) => [s.tenantId, s.stream, s.enqueued])).toEqual([[B, "S9", 2]]);
    expect(sent).toHaveLength(2);
  });
});
