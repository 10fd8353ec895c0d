import { readFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { encodeMessage } from "../../shared/pipeline/workQueue.js";
import { startStatusServer } from "../../shared/local/statusServer.js";
import { safeSegment, workOutputPath } from "../../shared/sinks/layout.js";
import type { Status } from "../../shared/status/status.js";
import { cleanupAfterEach, Clock, collector, walk } from "../helpers/harness.js";
import { simulator, TENANT_A, tenants } from "../helpers/simulator.js";

const MIN = 60_000;
const H = 60 * MIN;
const T0 = Date.now();
const cleanups = cleanupAfterEach();

async function setup(env: Record<string, string> = {}, options: { maxDequeueCount?: number } = {}) {
  const clock = new Clock(T0);
  const sim = await simulator({ tenants: tenants([TENANT_A]), from: T0 - 4 * H, to: T0, blobIntervalMs: 30 * MIN, contentTypes: ["Audit.SharePoint", "DLP.All"], now: clock.now, seed: 3 });
  cleanups.push(() => sim.stop());
  const c = await collector(sim, clock, { O365_TENANT_IDS: TENANT_A, O365_CONTENT_TYPES: "Audit.SharePoint,DLP.All", ...env }, undefined, options);
  cleanups.push(() => c.close());
  return { clock, sim, c };
}

async function poisonTexts(c: Awaited<ReturnType<typeof setup>>["c"]): Promise<string[]> {
  const poison = c.runtime.storage.queues.getQueueClient(`${c.settings.workQueue}-poison`);
  const peeked = await poison.peekMessages({ numberOfMessages: 32 });
  return peeked.peekedMessageItems.map((m) => Buffer.from(m.messageText, "base64").toString("utf8"));
}

describe("queue worker semantics (host.json: batch, visibility, maxDequeueCount → poison)", () => {
  it("keeps an invalid message with its reason instead of retrying it", async () => {
    const { c } = await setup();
    await c.runtime.queue.client.sendMessage(Buffer.from('{"v":2,"source":"o365-audit","tenantId":"../x"}').toString("base64"));
    await c.runtime.queue.client.sendMessage(Buffer.from("not json at all").toString("base64"));
    const poller = await c.drain();
    expect(poller.failures).toBe(0);
    expect(await poisonTexts(c)).toEqual([]);
    const kept = (await walk(c.outputDir)).filter((f) => f.includes("/rejected/") && !f.endsWith(".meta.json"));
    expect(kept).toHaveLength(2);
    const reasons = await Promise.all(kept.map(async (f) => JSON.parse(await readFile(`${f}.meta.json`, "utf8")).reason as string));
    expect(reasons.sort()).toEqual([expect.stringMatching(/message is not JSON/), expect.stringMatching(/tenantId: expected a tenant id/)].sort());
    expect(c.log.lines.filter((l) => l.level === "error" && /rejected/.test(l.message))).toHaveLength(2);
  });

  it("moves a message that keeps failing to <queue>-poison after maxDequeueCount, text unchanged, its ledger row poisoned and counted", async () => {
    const { sim, c } = await setup({}, { maxDequeueCount: 2 });
    await c.runtime.list(c.log);
    const enqueued = c.runtime.stats.enqueued;
    expect(enqueued).toBeGreaterThan(0);
    sim.faults.serverErrorRate = 1; // every download fails, retries included
    const poller = await c.drain();
    expect(poller.poisoned).toBe(enqueued);
    const texts = await poisonTexts(c);
    expect(texts).toHaveLength(Math.min(32, enqueued));
    expect(JSON.parse(texts[0]!)).toMatchObject({ v: 2, source: "o365-audit", tenantId: TENANT_A });
    const entries = [];
    for await (const entry of c.runtime.ledger.entries()) entries.push(entry);
    expect(entries).toHaveLength(enqueued);
    for (const entry of entries) {
      expect(entry.state).toBe("poisoned");
      expect(entry.error).toMatch(/\S/);
      expect(entry.poisonedAt).toBeInstanceOf(Date);
    }
    const status = await c.runtime.status();
    expect(status.totals).toMatchObject({ poisoned: enqueued, backlog: 0, failed: 0 });
    expect(status.streams.map((s) => s.poisoned).reduce((a, b) => a + b, 0)).toBe(enqueued);
    expect(c.log.lines.filter((l) => l.level === "error" && /work poisoned/.test(l.message))).toHaveLength(enqueued);
  });

  it("never poisons a message because of throttling: it is re-enqueued with a delay instead", async () => {
    const { sim, c } = await setup();
    await c.runtime.list(c.log);
    sim.faults.throttle403Rate = 0.3;
    sim.faults.throttle429Rate = 0.3;
    sim.faults.retryAfterSeconds = 0;
    const poller = await c.drain({ maxDequeueCount: 1 });
    expect(poller.poisoned).toBe(0);
    expect(c.runtime.stats.throttledWork).toBeGreaterThan(0);
    expect(c.runtime.stats.processed).toBe(c.runtime.stats.enqueued);
    expect(new Set(await c.outputIds())).toEqual(sim.expectedRecordIds());
  });

  it("still writes records that cannot be normalized, as pipeline_error documents keeping the original", async () => {
    const { sim, c } = await setup();
    const blob = sim.blobs[0]!;
    blob.records.push(42 as never, { Id: "bad-operation", Operation: { nested: true } } as never);
    await c.runtime.list(c.log);
    await c.drain();
    const errors = (await c.outputDocs()).filter((d) => (d.event as { kind: string }).kind === "pipeline_error");
    expect(errors).toHaveLength(2);
    expect(errors.map((d) => (d.event as { original: string }).original).sort()).toEqual(["42", JSON.stringify({ Id: "bad-operation", Operation: { nested: true } })].sort());
    expect(errors.map((d) => (d.error as { message: string }).message).sort()).toEqual(["Operation is a object, not a string", "record is a number, not an object"].sort());
    expect(c.runtime.stats.pipelineErrors).toBe(2);
    expect((await c.runtime.ledger.get(blob.tenantId, blob.contentType, blob.contentId))?.pipelineErrors).toBe(2);
  });

  it("bounds one tenant's parallel downloads per instance, deferring the rest without losing any", async () => {
    for (const [limit, expectBounded] of [["2", true], ["16", false]] as const) {
      const { sim, c } = await setup({ WORK_MAX_PER_TENANT: limit });
      sim.faults.latencyMs = 150;
      await c.runtime.list(c.log);
      await c.drain();
      expect(new Set(await c.outputIds())).toEqual(sim.expectedRecordIds());
      if (expectBounded) {
        expect(sim.stats.maxConcurrentDownloads).toBeLessThanOrEqual(2);
        expect(c.runtime.stats.deferredWork).toBeGreaterThan(0);
      } else {
        expect(sim.stats.maxConcurrentDownloads).toBeGreaterThan(2);
        expect(c.runtime.stats.deferredWork).toBe(0);
      }
    }
  }, 120_000);

  it("writes gzip NDJSON blobs under the deterministic layout, at OUTPUT_GZIP_LEVEL, and a retry overwrites rather than adds", async () => {
    const { sim, c } = await setup({ OUTPUT_KIND: "blob", OUTPUT_GZIP_LEVEL: "9" });
    await c.runtime.list(c.log);
    await c.drain();
    const container = c.runtime.storage.blobs.getContainerClient(c.settings.output.kind === "blob" ? c.settings.output.container : "");
    const names: string[] = [];
    for await (const blob of container.listBlobsFlat()) names.push(blob.name);
    const expectedNames = sim.blobs.map((b) =>
      workOutputPath({ dataset: "o365.audit", tenantId: b.tenantId, stream: b.contentType, workId: b.contentId, created: new Date(b.contentCreated).toISOString() }),
    );
    expect(names.sort()).toEqual(expectedNames.sort());

    const first = sim.blobs[0]!;
    const body = await container.getBlobClient(names.find((n) => n.endsWith(`${safeSegment(first.contentId)}.ndjson.gz`))!).downloadToBuffer();
    // The gzip header's XFL byte: 2 is what zlib writes at level 9 only (4 at level 1, 0 between).
    expect(body[8]).toBe(2);
    const lines = gunzipSync(body).toString("utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: { id: string } });
    expect(lines.map((l) => l.event.id)).toEqual(first.records.map((r) => r.Id));

    // Re-deliver one message as if the queue had retried it after the ledger write was lost.
    const message = {
      v: 2 as const,
      source: "o365-audit",
      tenantId: first.tenantId,
      stream: first.contentType,
      workId: first.contentId,
      created: new Date(first.contentCreated).toISOString(),
      expires: new Date(first.contentCreated + 7 * 24 * H).toISOString(),
      throttled: 0,
      item: { contentUri: `${sim.apiBaseUrl}/api/v1.0/${first.tenantId}/activity/feed/audit/${first.contentId}` },
    };
    await c.runtime.ledger.finish({ source: "o365-audit", tenantId: first.tenantId, stream: first.contentType, workId: first.contentId, state: "queued", created: new Date(first.contentCreated) });
    await c.runtime.queue.client.sendMessage(encodeMessage(message));
    await c.drain();
    const after: string[] = [];
    for await (const blob of container.listBlobsFlat()) after.push(blob.name);
    expect(after.sort()).toEqual(names.sort());
    expect(gunzipSync(await container.getBlobClient(names.find((n) => n.endsWith(`${safeSegment(first.contentId)}.ndjson.gz`))!).downloadToBuffer()).equals(gunzipSync(body))).toBe(true);
  });
});

describe("status (GET /api/status)", () => {
  it("reports cursor, lag, backlog, failed and expired per feed, tenant and stream, locally over HTTP too", async () => {
    const clock = new Clock(T0);
    const sim = await simulator({ tenants: tenants([TENANT_A]), from: T0 - 4 * H, to: T0, blobIntervalMs: 20 * MIN, contentTypes: ["Audit.SharePoint", "DLP.All"], now: clock.now, seed: 5, faults: { expiredRate: 0.2, corruptRate: 0.1 } });
    cleanups.push(() => sim.stop());
    const c = await collector(sim, clock, { O365_TENANT_IDS: TENANT_A, O365_CONTENT_TYPES: "Audit.SharePoint,DLP.All" });
    cleanups.push(() => c.close());

    const before = await c.runtime.status();
    expect(before.streams.map((s) => [s.source, s.stream, s.cursor, s.backlog])).toEqual([
      ["o365-audit", "Audit.SharePoint", null, 0],
      ["o365-audit", "DLP.All", null, 0],
    ]);

    await c.runtime.list(c.log);
    const listed = await c.runtime.status();
    expect(listed.totals.backlog).toBe(sim.blobs.length);
    // The cursor is the listing's end, to the second; lag is rounded to whole seconds.
    const cursorMs = Math.floor(T0 / 1000) * 1000;
    const lagAt = (ms: number) => Math.round((ms - cursorMs) / 1000);
    expect(listed.streams.map((s) => [s.cursor, s.lagSeconds])).toEqual([
      [new Date(cursorMs).toISOString(), lagAt(T0)],
      [new Date(cursorMs).toISOString(), lagAt(T0)],
    ]);

    await c.drain();
    clock.advance(30 * MIN);
    const server = await startStatusServer(() => c.runtime.status(), 0);
    cleanups.push(server.close);
    const served = (await (await fetch(server.url)).json()) as Status;
    expect(served.totals).toMatchObject({ backlog: 0, expired: sim.blobs.filter((b) => b.expired).length, failed: sim.blobs.filter((b) => b.corrupt && !b.expired).length, streamsWithErrors: 0, maxLagSeconds: lagAt(clock.ms) });
    expect(served.streams.reduce((n, s) => n + s.expired + s.failed, 0)).toBeGreaterThan(0);
    expect((await fetch(server.url.replace("/api/status", "/other"))).status).toBe(404);
  });
});
