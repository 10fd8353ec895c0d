import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { failedWorkPath } from "../../shared/sinks/layout.js";
import { cleanupAfterEach, Clock, type Collector, collector, tally } from "../helpers/harness.js";
import { auditConfig, simulator, TENANT_A, TENANT_B, TENANT_C, tenants } from "../helpers/simulator.js";

const MIN = 60_000;
const H = 60 * MIN;
const T0 = Date.now();
const cleanups = cleanupAfterEach();

async function setup(options: { tenantIds: string[]; faults?: Parameters<typeof simulator>[0]["faults"]; from?: number; to?: number; env?: Record<string, string> }) {
  const clock = new Clock(T0);
  const sim = await simulator({
    tenants: tenants(options.tenantIds),
    from: options.from ?? T0 - 12 * H,
    to: options.to ?? T0 + 2 * H,
    blobIntervalMs: 30 * MIN,
    recordsPerBlob: [2, 6],
    pageSize: 10,
    now: clock.now,
    seed: 42,
    ...(options.faults ? { faults: options.faults } : {}),
  });
  cleanups.push(() => sim.stop());
  const c = await collector(sim, clock, { O365_TENANT_IDS: options.tenantIds.join(","), O365_INITIAL_LOOKBACK: "1d", ...options.env });
  cleanups.push(() => c.close());
  return { clock, sim, c };
}

/** One listing pass per step of virtual time, each followed by a full drain of the queue. */
async function collectUntil(c: Collector, clock: Clock, until: number, step = 20 * MIN) {
  for (; clock.ms <= until; clock.advance(step)) {
    await c.runtime.list(c.log);
    await c.drain();
  }
}

function expectExactlyOnce(written: string[], expected: Set<string>) {
  const counts = tally(written);
  const duplicated = [...counts].filter(([, n]) => n > 1);
  const missing = [...expected].filter((id) => !counts.has(id));
  const unexpected = [...counts.keys()].filter((id) => !expected.has(id));
  expect({ duplicated: duplicated.length, missing: missing.length, unexpected: unexpected.length }).toEqual({ duplicated: 0, missing: 0, unexpected: 0 });
  expect(written.length).toBe(expected.size);
}

describe("full collection cycle on Azurite and the simulator", () => {
  it("collects every generated record exactly once across tenants with every fault knob on", async () => {
    const { clock, sim, c } = await setup({
      tenantIds: [TENANT_A, TENANT_B, TENANT_C],
      faults: {
        throttle403Rate: 0.02,
        throttle429Rate: 0.02,
        retryAfterSeconds: 1,
        serverErrorRate: 0.05,
        lateRate: 0.2,
        lateDelayMs: 40 * MIN,
        duplicateRate: 0.05,
        expiredRate: 0.03,
        corruptRate: 0.02,
        subscriptionsStartDisabled: true,
      },
    });
    await collectUntil(c, clock, T0 + 3 * H);

    const expected = sim.expectedRecordIds();
    const written = await c.outputIds();
    expectExactlyOnce(written, expected);

    const ledger = [];
    for await (const entry of c.runtime.ledger.entries()) ledger.push(entry);
    const expiredBlobs = sim.blobs.filter((b) => b.expired);
    const corruptBlobs = sim.blobs.filter((b) => b.corrupt && !b.expired);
    expect(ledger).toHaveLength(sim.blobs.length);
    expect(ledger.filter((e) => e.state === "expired").map((e) => e.workId).sort()).toEqual(expiredBlobs.map((b) => b.contentId).sort());
    expect(ledger.filter((e) => e.state === "failed").map((e) => e.workId).sort()).toEqual(corruptBlobs.map((b) => b.contentId).sort());
    expect(ledger.filter((e) => e.state === "queued")).toEqual([]);
    for (const blob of corruptBlobs) {
      expect(existsSync(join(c.outputDir, failedWorkPath({ dataset: "o365.audit", tenantId: blob.tenantId, stream: blob.contentType, workId: blob.contentId })))).toBe(true);
    }
    // Expired content is reported with feed, tenant, stream (content type) and work id (contentId).
    const expiredWarnings = c.log.lines.filter((l) => l.level === "warn" && /expired/.test(l.message));
    expect(expiredWarnings.map((l) => l.properties?.workId).sort()).toEqual(expiredBlobs.map((b) => b.contentId).sort());
    expect(expiredWarnings.every((l) => l.properties?.source === "o365-audit" && l.properties?.tenantId && l.properties?.stream)).toBe(true);

    const stats = c.runtime.stats;
    expect(sim.stats.throttled).toBeGreaterThan(0);
    expect(sim.stats.serverErrors).toBeGreaterThan(0);
    expect(sim.stats.subscriptionsStarted).toBe(15);
    expect(sim.stats.missingPublisher).toBe(0);
    expect(stats.duplicatesSkipped).toBeGreaterThan(0);
    expect(stats.recordsWritten).toBe(expected.size);
    console.info(
      `fault-injected cycle: ${sim.blobs.length} blobs, ${expected.size} records expected, ${written.length} written, ` +
        `${stats.duplicatesSkipped} duplicates skipped, ${expiredBlobs.length} expired, ${corruptBlobs.length} corrupt, ` +
        `${sim.stats.throttled} throttled and ${sim.stats.serverErrors} 5xx answers, ${sim.stats.earlyRequests} requests inside a Retry-After, ` +
        `${sim.blobs.filter((b) => b.visibleAt > b.contentCreated).length} late blobs`,
    );
    expect(sim.stats.earlyRequests).toBe(0);
  });

  it("sends nothing to a tenant inside its Retry-After under constant throttling, and still collects everything once", async () => {
    // A fifth of the API's answers are 429 with Retry-After: 1, on every tenant, while the lister and
    // the worker of one process call the same tenants: each throttled answer must hold both.
    const { clock, sim, c } = await setup({
      tenantIds: [TENANT_A, TENANT_B, TENANT_C],
      from: T0 - 2 * H,
      to: T0 + H,
      faults: { throttle429Rate: 0.2, retryAfterSeconds: 1, lateRate: 0.2, lateDelayMs: 40 * MIN },
    });
    // The worker drains while the lister lists, as in the Functions host: both call the same tenants at once.
    const poller = c.poller();
    await poller.ensure();
    const draining = poller.run();
    for (; clock.ms <= T0 + H + 40 * MIN; clock.advance(20 * MIN)) {
      await c.runtime.list(c.log);
      poller.wake();
    }
    const drained = await poller.drained(120_000);
    poller.stop();
    await draining;
    expect(drained).toBe(true);

    const expected = sim.expectedRecordIds();
    expectExactlyOnce(await c.outputIds(), expected);
    const { stats } = c.runtime;
    expect(sim.stats.throttled / sim.stats.apiRequests).toBeGreaterThan(0.1);
    console.info(
      `heavy throttling: ${sim.blobs.length} blobs, ${expected.size} records, ${sim.stats.apiRequests} API requests, ` +
        `${sim.stats.throttled} throttled (Retry-After 1 s), ${stats.throttledWork} downloads re-enqueued, ` +
        `${sim.stats.earlyRequests} requests inside a Retry-After ${JSON.stringify(sim.stats.earlyRequestsByTenant)}`,
    );
    expect(stats.throttledWork).toBeGreaterThan(0); // downloads were re-enqueued, not held
    expect(sim.stats.earlyRequests).toBe(0);
  });

  it("surfaces a tenant's configuration error once, with the fix, while the other tenants are collected", async () => {
    const unknown = "9f9f9f9f-9f9f-4f9f-8f9f-9f9f9f9f9f9f"; // not consented: the token endpoint does not know it
    const { clock, sim, c } = await setup({ tenantIds: [TENANT_A], env: { O365_TENANT_IDS: `${TENANT_A},${unknown}`, LIST_CONCURRENCY: "1" } });
    await collectUntil(c, clock, T0 + 40 * MIN);
    const errors = c.log.lines.filter((l) => l.level === "error" && l.properties?.tenantId === unknown);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/configuration is fixed/);
    expect(String(errors[0]!.properties?.error)).toMatch(new RegExp(`token for tenant ${unknown}`));
    expect(errors[0]!.properties?.fix).toBeTruthy();
    // One attempt per run for the broken tenant, not one per content type, and no retries in between.
    expect(sim.stats.tokenRequests).toBeLessThanOrEqual(1 + 3);
    expectExactlyOnce(await c.outputIds(), sim.expectedRecordIds((b) => b.contentCreated < T0 + 40 * MIN));
    expect((await c.runtime.cursors.read(unknown, "Audit.AzureActiveDirectory")).lastError).toMatch(/token for tenant/);
  });

  it("takes a token request the identity service could not answer as a failure of each stream, not of the tenant's configuration", async () => {
    const { sim, c } = await setup({ tenantIds: [TENANT_A], faults: { tokenErrorRate: 1 } });
    const summary = await c.runtime.list(c.log);
    // Every content type was tried (none skipped as misconfigured), each retried, each left for the next run.
    const { contentTypes } = auditConfig(c.settings);
    expect(summary.streams.map((s) => [s.stream, s.errorClass, s.error?.startsWith("skipped")])).toEqual(contentTypes.map((contentType) => [contentType, "transient", false]));
    expect(c.runtime.stats.apiRequests).toBe(contentTypes.length * 5); // each stream: one attempt and 4 retries
    expect(c.log.lines.filter((l) => l.level === "error")).toEqual([]);
    expect(c.log.lines.filter((l) => /the cursor stays and the next run retries/.test(l.message))).toHaveLength(contentTypes.length);
    const cursor = await c.runtime.cursors.read(TENANT_A, "Audit.Exchange");
    expect(cursor.cursorMs).toBeUndefined();
    expect(cursor.lastError).toMatch(/AADSTS90033/);
    expect(sim.stats.apiRequests).toBe(0);
  });

  it("loses late content without the re-listing overlap (why the overlap exists)", async () => {
    const { clock, sim, c } = await setup({ tenantIds: [TENANT_A], faults: { lateRate: 0.3, lateDelayMs: 40 * MIN }, env: { O365_RELIST_OVERLAP: "0s" } });
    await collectUntil(c, clock, T0 + 3 * H);
    const written = new Set(await c.outputIds());
    const lateRecords = [...sim.expectedRecordIds((b) => b.visibleAt > b.contentCreated && b.contentCreated > T0 - 12 * H + 40 * MIN)];
    expect(lateRecords.length).toBeGreaterThan(0);
    expect(lateRecords.filter((id) => !written.has(id)).length).toBeGreaterThan(0);
  });

  it("loses nothing when the lister crashes between enqueueing and recording or moving the cursor", async () => {
    const { clock, sim, c } = await setup({ tenantIds: [TENANT_A, TENANT_B] });
    const ledger = c.runtime.ledger;
    const cursors = c.runtime.cursors;
    const recordQueued = ledger.recordQueued.bind(ledger);
    const advance = cursors.advance.bind(cursors);

    // Crash 1: messages are on the queue but neither the ledger nor the cursor knows.
    ledger.recordQueued = async () => {
      throw new Error("simulated crash after enqueue");
    };
    const first = await c.runtime.list(c.log);
    expect(first.failedStreams).toBe(10);
    expect(first.enqueued).toBe(0);
    ledger.recordQueued = recordQueued;
    expect((await cursors.read(TENANT_A, "Audit.Exchange")).cursorMs).toBeUndefined();

    // Crash 2: the ledger knows, the cursor has not moved.
    clock.advance(5 * MIN);
    cursors.advance = async () => {
      throw new Error("simulated crash before the cursor update");
    };
    const second = await c.runtime.list(c.log);
    expect(second.failedStreams).toBe(10);
    cursors.advance = advance;

    await c.drain();
    await collectUntil(c, clock, T0 + 3 * H);
    expectExactlyOnce(await c.outputIds(), sim.expectedRecordIds());
    expect((await cursors.read(TENANT_A, "Audit.Exchange")).cursorMs).toBeGreaterThanOrEqual(Math.floor((T0 + 2 * H) / 1000) * 1000);
  });

  it("writes no duplicate output when two listers run at the same time", async () => {
    const { clock, sim, c } = await setup({ tenantIds: [TENANT_A, TENANT_B], faults: { lateRate: 0.2, lateDelayMs: 30 * MIN } });
    const twin = await collector(sim, clock, { O365_TENANT_IDS: [TENANT_A, TENANT_B].join(","), O365_INITIAL_LOOKBACK: "1d" }, {
      outputDir: c.outputDir,
      names: { STATE_TABLE_PREFIX: c.settings.tables.cursors.replace(/cursors$/, ""), WORK_QUEUE: c.settings.workQueue, OUTPUT_CONTAINER: "unused" },
    });
    cleanups.push(() => twin.close());
    for (; clock.ms <= T0 + 3 * H; clock.advance(20 * MIN)) {
      await Promise.all([c.runtime.list(c.log), twin.runtime.list(twin.log)]);
      await Promise.all([c.drain(), twin.drain()]);
    }
    expectExactlyOnce(await c.outputIds(), sim.expectedRecordIds());
    const cursor = await c.runtime.cursors.read(TENANT_B, "DLP.All");
    expect(cursor.cursorMs).toBe(Math.floor((clock.ms - 20 * MIN) / 1000) * 1000);
  });
});
