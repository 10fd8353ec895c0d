import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it, vi } from "vitest";
import { runRedrive } from "../../shared/cli/redrive.js";
import { decodeMessage } from "../../shared/pipeline/workQueue.js";
import type { LedgerEntry } from "../../shared/state/ledger.js";
import { LEDGER_RETENTION_DAYS } from "../../shared/state/ledger.js";
import { cleanupAfterEach, Clock, type Collector, collector } from "../helpers/harness.js";
import { CLIENT_ID, SECRET, simulator, TENANT_A, TENANT_B, tenants } from "../helpers/simulator.js";

const MIN = 60_000;
const H = 60 * MIN;
const DAY = 24 * H;
const T0 = Date.now();
const cleanups = cleanupAfterEach();

async function setup(tenantIds: string[], options: { maxDequeueCount?: number } = {}) {
  const clock = new Clock(T0);
  const sim = await simulator({ tenants: tenants(tenantIds), from: T0 - 3 * H, to: T0, blobIntervalMs: 30 * MIN, contentTypes: ["Audit.SharePoint"], now: clock.now, seed: 11 });
  cleanups.push(() => sim.stop());
  const c = await collector(sim, clock, { O365_TENANT_IDS: tenantIds.join(","), O365_CONTENT_TYPES: "Audit.SharePoint" }, undefined, options);
  cleanups.push(() => c.close());
  return { clock, sim, c };
}

async function ledgerStates(c: Collector): Promise<Map<string, LedgerEntry["state"][]>> {
  const states = new Map<string, LedgerEntry["state"][]>();
  for await (const entry of c.runtime.ledger.entries()) states.set(entry.tenantId, [...(states.get(entry.tenantId) ?? []), entry.state]);
  return states;
}

/** The poison queue's visible messages, decoded: peek sees only what another reader could take now. */
async function visiblePoison(c: Collector): Promise<string[]> {
  const poison = c.runtime.storage.queues.getQueueClient(`${c.settings.workQueue}-poison`);
  return (await poison.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.map((m) => decodeMessage(m.messageText));
}

describe("redrive (audit-intake redrive)", () => {
  it("moves one tenant's poisoned messages back, leaves the rest, and after the fix the worker finishes them", async () => {
    const { sim, c } = await setup([TENANT_A, TENANT_B], { maxDequeueCount: 2 });
    await c.runtime.list(c.log);
    const ofA = sim.blobs.filter((b) => b.tenantId === TENANT_A).length;
    const ofB = sim.blobs.filter((b) => b.tenantId === TENANT_B).length;
    expect(ofA).toBeGreaterThan(0);
    expect(ofB).toBeGreaterThan(0);
    sim.faults.serverErrorRate = 1;
    expect((await c.drain()).poisoned).toBe(ofA + ofB);
    const poison = c.runtime.storage.queues.getQueueClient(`${c.settings.workQueue}-poison`);
    await poison.sendMessage(Buffer.from("not our envelope").toString("base64"));
    sim.faults.serverErrorRate = 0; // the cause is fixed

    // The command reads local.settings.json in its working directory, under the environment.
    const cwd = await mkdtemp(join(tmpdir(), "audit-intake-redrive-"));
    cleanups.push(() => rm(cwd, { recursive: true, force: true }));
    await writeFile(join(cwd, "local.settings.json"), JSON.stringify({ IsEncrypted: false, Values: { O365_TENANT_IDS: `${TENANT_A},${TENANT_B}`, O365_CLIENT_ID: CLIENT_ID, O365_CLIENT_SECRET: SECRET, WORK_QUEUE: "not-this-one" } }));
    const env = {
      DataStorage: inject("azurite"),
      O365_API_BASE_URL: sim.apiBaseUrl,
      WORK_QUEUE: c.settings.workQueue,
      STATE_TABLE_PREFIX: c.settings.tables.ledger.replace(/ledger$/, ""),
    };
    const redrive = async (options: { tenantId?: string; dryRun?: boolean }) => {
      const lines: string[] = [];
      const code = await runRedrive({ cwd, env, dryRun: options.dryRun ?? false, print: (line) => lines.push(line), ...(options.tenantId ? { tenantId: options.tenantId } : {}) });
      return { code, out: lines.join("\n") };
    };

    const dry = await redrive({ tenantId: TENANT_A, dryRun: true });
    expect(dry.code).toBe(0);
    expect(dry.out).toContain(`Total: would re-drive ${ofA}, left ${ofB}, invalid 1`);
    expect(await visiblePoison(c)).toHaveLength(ofA + ofB + 1);

    const onlyA = await redrive({ tenantId: TENANT_A });
    expect(onlyA.code).toBe(0);
    expect(onlyA.out).toContain(`${TENANT_A} Audit.SharePoint`);
    expect(onlyA.out).toMatch(/invalid message \S+ \(left in the queue\): message is not JSON/);
    expect(onlyA.out).toContain(`Total: re-driven ${ofA}, left ${ofB}, invalid 1`);
    // What was left is visible again at once, not after the scan's lease.
    const left = await visiblePoison(c);
    expect(left).toHaveLength(ofB + 1);
    expect(left.filter((text) => text.includes(TENANT_A))).toEqual([]);
    expect((await ledgerStates(c)).get(TENANT_A)).toEqual(Array(ofA).fill("queued"));
    expect((await ledgerStates(c)).get(TENANT_B)).toEqual(Array(ofB).fill("poisoned"));
    expect((await c.runtime.status()).totals).toMatchObject({ backlog: ofA, poisoned: ofB });

    await c.drain();
    expect((await ledgerStates(c)).get(TENANT_A)).toEqual(Array(ofA).fill("done"));
    expect(new Set(await c.outputIds())).toEqual(sim.expectedRecordIds((b) => b.tenantId === TENANT_A));

    const rest = await redrive({});
    expect(rest.out).toContain(`Total: re-driven ${ofB}, left 0, invalid 1`);
    await c.drain();
    expect((await ledgerStates(c)).get(TENANT_B)).toEqual(Array(ofB).fill("done"));
    expect(new Set(await c.outputIds())).toEqual(sim.expectedRecordIds());
    expect((await c.runtime.status()).totals).toMatchObject({ backlog: 0, poisoned: 0 });
    expect(await visiblePoison(c)).toEqual(["not our envelope"]);
  });

  it("processes a message whose row is still poisoned (moved back by other means, e.g. Storage Explorer)", async () => {
    const { sim, c } = await setup([TENANT_A], { maxDequeueCount: 2 });
    await c.runtime.list(c.log);
    sim.faults.serverErrorRate = 1;
    await c.drain();
    sim.faults.serverErrorRate = 0;
    const poison = c.runtime.storage.queues.getQueueClient(`${c.settings.workQueue}-poison`);
    const { receivedMessageItems } = await poison.receiveMessages({ numberOfMessages: 32 });
    expect(receivedMessageItems).toHaveLength(sim.blobs.length);
    for (const item of receivedMessageItems) await c.runtime.queue.client.sendMessage(item.messageText);
    expect((await ledgerStates(c)).get(TENANT_A)).toEqual(Array(sim.blobs.length).fill("poisoned"));
    await c.drain();
    expect((await ledgerStates(c)).get(TENANT_A)).toEqual(Array(sim.blobs.length).fill("done"));
    expect(new Set(await c.outputIds())).toEqual(sim.expectedRecordIds());
  });

  it("stops on bad settings, naming them, before touching any queue", async () => {
    const cwd = await mkdtemp(join(tmpdir(), "audit-intake-redrive-"));
    cleanups.push(() => rm(cwd, { recursive: true, force: true }));
    const lines: string[] = [];
    const code = await runRedrive({ cwd, env: { DataStorage: inject("azurite") }, dryRun: false, print: (line) => lines.push(line) });
    expect(code).toBe(2);
    expect(lines.join("\n")).toMatch(/O365_TENANT_IDS/);
  });
});

describe("ledger retention in the lister", () => {
  const old = (workId: string, ageMs: number, stream = "Audit.SharePoint"): LedgerEntry => ({
    source: "o365-audit",
    tenantId: TENANT_A,
    stream,
    workId,
    state: "done",
    created: new Date(T0 - ageMs),
  });

  it("deletes a listed stream's rows past retention and keeps recent ones and unlisted streams'", async () => {
    const { sim, c } = await setup([TENANT_A]);
    const retention = LEDGER_RETENTION_DAYS * DAY;
    for (const entry of [old("aged-1", retention + H), old("aged-2", retention + 2 * DAY), old("young", retention - H), old("other-stream", retention + H, "Audit.Exchange")]) {
      await c.runtime.ledger.finish(entry);
    }
    const summary = await c.runtime.list(c.log);
    expect(summary.failedStreams).toBe(0);
    const ids = new Set<string>();
    for await (const entry of c.runtime.ledger.entries()) ids.add(entry.workId);
    expect(ids.has("aged-1") || ids.has("aged-2")).toBe(false);
    expect(ids.has("young")).toBe(true);
    expect(ids.has("other-stream")).toBe(true); // Audit.Exchange is not listed here
    expect(ids.size).toBe(sim.blobs.length + 2);
    expect(c.log.lines).toContainEqual(expect.objectContaining({ message: "purged ledger rows past retention", properties: expect.objectContaining({ purged: 2 }) }));
  });

  it("only warns when the purge fails: the listing and its cursor go on", async () => {
    const { sim, c } = await setup([TENANT_A]);
    const purge = vi.spyOn(c.runtime.ledger, "purge").mockRejectedValue(new Error("table busy"));
    const summary = await c.runtime.list(c.log);
    expect(purge).toHaveBeenCalledTimes(1);
    expect(summary).toMatchObject({ failedStreams: 0, enqueued: sim.blobs.length });
    expect((await c.runtime.cursors.read(TENANT_A, "Audit.SharePoint")).cursorMs).toBe(Math.floor(T0 / 1000) * 1000);
    expect(c.log.lines).toContainEqual(expect.objectContaining({ level: "warn", message: expect.stringMatching(/could not purge ledger rows/) }));
  });
});
