import { describe, expect, it } from "vitest";
import { defaultSophosDirectory, generateXdrRows, sophosXdrRoute } from "../../shared/sources/sophos-xdr/simulator.js";
import { cleanupAfterEach, Clock, collector, tally } from "../helpers/harness.js";
import { simulator } from "../helpers/simulator.js";

/**
 * The Sophos XDR feed through the whole pipeline (tenant discovery, lister, queue, worker steps, claims,
 * sink) against the simulator's Sophos Central with its faults on: query runs that take several polls,
 * fail, or expire; 429s with Retry-After and 503s; rows that reach the Data Lake late; paged results; a
 * partner's customer listed without an API host.
 */
const MIN = 60_000;
const H = 60 * MIN;
const T0 = Date.now();
const cleanups = cleanupAfterEach();

type Doc = { data_stream?: { dataset: string }; sophos?: { xdr?: { record_identifier?: string } }; event?: { id?: string } };

describe("Sophos XDR through the pipeline", () => {
  it("writes every row once by record_identifier across two passes with late rows, polling each run from the queue, never inside a Retry-After", async () => {
    const clock = new Clock(T0);
    const directory = defaultSophosDirectory();
    const partner = directory.find((credential) => credential.idType === "partner");
    if (!partner) throw new Error("the simulator's directory has no partner credential");
    const collected = partner.tenants.filter((tenant) => tenant.apiHost !== false);
    const rows = generateXdrRows({ tenantIds: partner.tenants.map((t) => t.id), from: T0 - 6 * H, to: T0 + H, detectionIntervalMs: 8 * MIN, seed: 13, lateRate: 0.2, lateDelayMs: 20 * MIN });
    const sophos = sophosXdrRoute({ directory, rows, now: clock.now, throttleRate: 0.1, retryAfterSeconds: 1, serverErrorRate: 0.05, failRate: 0.15, expireRate: 0.1, runningPolls: [1, 3], seed: 3 });
    const sim = await simulator({ from: T0 - H, to: T0, blobIntervalMs: H, routes: [sophos.route], now: clock.now });
    cleanups.push(() => sim.stop());
    const c = await collector(sim, clock, {
      O365_AUDIT_ENABLED: "false",
      SOPHOS_ENABLED: "true",
      SOPHOS_CLIENT_ID: partner.clientId,
      SOPHOS_CLIENT_SECRET: partner.clientSecret,
      SOPHOS_ID_BASE_URL: sim.apiBaseUrl,
      SOPHOS_API_BASE_URL: sim.apiBaseUrl,
      SOPHOS_LOOKBACK: "6h",
      SOPHOS_WINDOW: "2h",
      SOPHOS_POLL_INTERVAL: "1s",
      SOPHOS_PAGE_SIZE: "50",
    });
    cleanups.push(() => c.close());

    // First pass, then 40 minutes: rows that reached the Data Lake late are inside the next pass's overlap.
    const first = await c.runtime.list(c.log);
    await c.drain();
    clock.advance(40 * MIN);
    const second = await c.runtime.list(c.log);
    await c.drain();

    const docs = (await c.outputDocs()) as Doc[];
    expect(docs.every((d) => d.data_stream?.dataset === "sophos_central.xdr_ioc")).toBe(true);
    const written = docs.map((d) => String(d.sophos?.xdr?.record_identifier ?? d.event?.id));
    expect([...tally(written)].filter(([, n]) => n > 1)).toEqual([]);

    // Every row of a collected tenant above the threshold, in the windows read, in the Data Lake by the second pass.
    // The first pass reaches back SOPHOS_LOOKBACK, less the margin kept inside the Data Lake's reach (1 h).
    const firstStart = T0 - 6 * H + H;
    const lastEnd = clock.ms - 5 * MIN; // SOPHOS_DELAY
    const expected = rows.filter(
      (r) => collected.some((t) => t.id === r.tenantId) && r.weight > 3 && r.calendarTime >= firstStart && r.calendarTime <= lastEnd && r.visibleAt <= clock.ms,
    );
    const ids = (list: typeof rows) => list.map((r) => String(r.row.record_identifier)).sort();
    expect(written.sort()).toEqual(ids(expected));
    const late = expected.filter((r) => r.visibleAt > T0);
    expect(late.length).toBeGreaterThan(0);

    // The customer without an API host: reported once, never queried.
    const skipped = partner.tenants.find((tenant) => tenant.apiHost === false);
    expect(c.log.lines.filter((l) => l.level === "warn" && l.properties?.tenantId === skipped?.id)).toHaveLength(1);
    expect([...first.streams, ...second.streams].map((s) => s.tenantId)).not.toContain(skipped?.id);
    expect(sophos.stats.requestsByTenant[skipped?.id ?? ""] ?? 0).toBe(0);

    // Each run was submitted and polled by separate invocations: the message went back on the queue between them.
    const { stats } = c.runtime;
    const runs = [...sophos.runs.values()];
    console.info(
      `sophos xdr: ${rows.length} rows generated, ${expected.length} expected (${late.length} late), ${written.length} written; ${runs.length} runs ` +
        `(${sophos.stats.runsFailed} failed, ${sophos.stats.runsExpired} expired), ${stats.continuedWork} steps re-enqueued, ${sophos.stats.requests} Data Lake requests, ` +
        `${sophos.stats.throttled} throttled, ${sophos.stats.overQuota} over quota, ${sophos.stats.earlyRequests} inside a Retry-After`,
    );
    expect(stats.continuedWork).toBeGreaterThanOrEqual(2 * runs.length - runs.length / 2);
    expect(c.log.lines.filter((l) => l.message === "work took a step; message re-enqueued").length).toBe(stats.continuedWork);
    expect(sophos.stats.runsFailed + sophos.stats.runsExpired).toBeGreaterThan(0);
    expect(sophos.stats.throttled).toBeGreaterThan(0);
    expect(sophos.stats.earlyRequests).toBe(0);
    expect(sophos.stats.overQuota).toBe(0);
    expect(stats.failed + stats.rejectedMessages).toBe(0);
    const ledger = [];
    for await (const entry of c.runtime.ledger.entries()) ledger.push(entry);
    expect(ledger.length).toBeGreaterThan(0);
    expect(ledger.every((e) => e.state === "done" && e.source === "sophos-xdr")).toBe(true);
  }, 240_000);

  it("says so once when a tenant's queries find nothing for a day: Data Lake uploads off, or a role that may not query", async () => {
    const clock = new Clock(T0);
    const directory = defaultSophosDirectory();
    const single = directory.find((credential) => credential.idType === "tenant");
    if (!single) throw new Error("the simulator's directory has no tenant credential");
    const sophos = sophosXdrRoute({ directory, rows: [], now: clock.now, runningPolls: [1, 1], seed: 4 });
    const sim = await simulator({ from: T0 - H, to: T0, blobIntervalMs: H, routes: [sophos.route], now: clock.now });
    cleanups.push(() => sim.stop());
    const c = await collector(sim, clock, {
      O365_AUDIT_ENABLED: "false",
      SOPHOS_ENABLED: "true",
      SOPHOS_CLIENT_ID: single.clientId,
      SOPHOS_CLIENT_SECRET: single.clientSecret,
      SOPHOS_ID_BASE_URL: sim.apiBaseUrl,
      SOPHOS_API_BASE_URL: sim.apiBaseUrl,
      SOPHOS_LOOKBACK: "2d",
      SOPHOS_WINDOW: "12h",
      SOPHOS_POLL_INTERVAL: "1s",
    });
    cleanups.push(() => c.close());
    await c.runtime.list(c.log);
    await c.drain();
    clock.advance(H);
    await c.runtime.list(c.log);
    await c.drain();
    const warnings = c.log.lines.filter((l) => l.level === "warn" && /queries find nothing/.test(l.message));
    expect(warnings.map((l) => l.properties?.tenantId)).toEqual([single.tenants[0]?.id]);
    expect(String(warnings[0]?.message)).toMatch(/Data Lake uploads/);
    expect(c.runtime.stats.processed).toBeGreaterThanOrEqual(4);
    expect(c.runtime.stats.recordsWritten).toBe(0);
  }, 120_000);
});
