import { describe, expect, it } from "vitest";
import { generateMessageTraces, messageTraceRoute, type SimulatedTrace } from "../../shared/sources/message-trace/simulator.js";
import { cleanupAfterEach, Clock, collector, tally } from "../helpers/harness.js";
import { simulator, TENANT_A, TENANT_B, TENANT_C, tenants } from "../helpers/simulator.js";

/**
 * The message-trace feed through the whole pipeline (lister, queue, worker, claims, sink) against the
 * simulator's Graph route, with its faults on: rows that appear late, statuses that settle after the
 * fact, random 429s with Retry-After, paging, and a tenant without Microsoft's service principal.
 */
const MIN = 60_000;
const H = 60 * MIN;
const T0 = Date.now();
const cleanups = cleanupAfterEach();

type Doc = { microsoft?: { online_message_trace?: { MessageTraceId: string; RecipientAddress: string; Status: string } }; data_stream?: { dataset: string } };

/** A row's key as the feed claims it: a status change is a new event, a repeated row is not. */
const keyOf = (trace: { id: string; recipientAddress: string }, status: string) => `${trace.id}|${trace.recipientAddress}|${status}`;
/** The document's status as the normalizer writes it (PascalCase) back to Graph's camelCase. */
const graphStatus = (status: string) => status.charAt(0).toLowerCase() + status.slice(1);

describe("message trace through the pipeline", () => {
  it("writes every (id, recipient, status) exactly once across two listings with late rows and status changes between them, inside Retry-After and quota", async () => {
    const clock = new Clock(T0);
    const traces: SimulatedTrace[] = generateMessageTraces({
      tenants: tenants([TENANT_A, TENANT_B, TENANT_C]),
      from: T0 - 6 * H,
      to: T0 + 2 * H,
      messageIntervalMs: 4 * MIN,
      seed: 21,
      lateRate: 0.15,
      lateDelayMs: 40 * MIN,
      unsettledRate: 0.5,
      settleDelayMs: 45 * MIN,
    });
    const graph = messageTraceRoute({ traces, now: clock.now, withoutServicePrincipal: [TENANT_C], throttleRate: 0.1, retryAfterSeconds: 1, seed: 5 });
    const sim = await simulator({ tenants: tenants([TENANT_A, TENANT_B, TENANT_C]), from: T0 - H, to: T0, blobIntervalMs: H, routes: [graph.route], now: clock.now });
    cleanups.push(() => sim.stop());
    const c = await collector(sim, clock, {
      O365_TENANT_IDS: [TENANT_A, TENANT_B, TENANT_C].join(","),
      O365_AUDIT_ENABLED: "false",
      MESSAGE_TRACE_ENABLED: "true",
      MESSAGE_TRACE_GRAPH_BASE_URL: sim.apiBaseUrl,
      MESSAGE_TRACE_INITIAL_LOOKBACK: "6h",
      MESSAGE_TRACE_PAGE_SIZE: "25",
    });
    cleanups.push(() => c.close());

    // First listing: six hours back. Then 50 minutes pass: late rows appear, interim statuses settle.
    const first = await c.runtime.list(c.log);
    await c.drain();
    clock.advance(50 * MIN);
    const second = await c.runtime.list(c.log);
    await c.drain();

    const docs = (await c.outputDocs()) as Doc[];
    expect(docs.every((d) => d.data_stream?.dataset === "microsoft_exchange_online_message_trace.log")).toBe(true);
    const written = docs.map((d) => {
      const trace = d.microsoft?.online_message_trace;
      if (!trace) throw new Error("a document without its message-trace fields");
      return keyOf({ id: trace.MessageTraceId, recipientAddress: trace.RecipientAddress }, graphStatus(trace.Status));
    });
    const duplicates = [...tally(written)].filter(([, n]) => n > 1);
    expect(duplicates).toEqual([]);

    // Every row of a served tenant that the second listing could see, in its final status.
    const end = clock.ms - 5 * MIN; // MESSAGE_TRACE_DELAY
    const served = traces.filter((t) => t.tenantId !== TENANT_C && t.received <= end && t.visibleAt <= clock.ms);
    const finals = new Set(served.filter((t) => t.settlesAt <= clock.ms).map((t) => keyOf(t.row, t.row.status)));
    const writtenSet = new Set(written);
    expect([...finals].filter((key) => !writtenSet.has(key))).toEqual([]);
    // Nothing else: each written key is a row's final status or the interim one it had when first read.
    const possible = new Set(served.flatMap((t) => [keyOf(t.row, t.row.status), ...(t.interimStatus ? [keyOf(t.row, t.interimStatus)] : [])]));
    expect(written.filter((key) => !possible.has(key))).toEqual([]);
    // Status changes happened between the listings and both states were written, each once.
    const changed = served.filter((t) => t.interimStatus && writtenSet.has(keyOf(t.row, t.interimStatus)) && writtenSet.has(keyOf(t.row, t.row.status)));
    expect(changed.length).toBeGreaterThan(0);
    // Late rows (listed only 40 minutes after they were received) were caught by the re-read overlap.
    const late = served.filter((t) => t.visibleAt > t.received && t.visibleAt > T0 && t.settlesAt <= clock.ms);
    expect(late.length).toBeGreaterThan(0);
    expect(late.filter((t) => !writtenSet.has(keyOf(t.row, t.row.status)))).toEqual([]);

    // The tenant without the service principal: reported once, with the fix, and no work queued for it.
    const reports = c.log.lines.filter((l) => l.level === "error" && l.properties?.tenantId === TENANT_C);
    expect(reports).toHaveLength(1);
    expect(String(reports[0]?.properties?.fix)).toMatch(/New-MgServicePrincipal -AppId 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373/);
    expect([...first.streams, ...second.streams].filter((s) => s.tenantId === TENANT_C).map((s) => [s.errorClass, s.enqueued])).toEqual([
      ["configuration", 0],
      ["configuration", 0],
    ]);
    const ledger = [];
    for await (const entry of c.runtime.ledger.entries()) ledger.push(entry);
    expect(ledger.filter((e) => e.tenantId === TENANT_C)).toEqual([]);
    expect(ledger.every((e) => e.state === "done" && e.source === "message-trace")).toBe(true);

    // Throttled, yet nothing sent inside a Retry-After, and never past the tenant's quota.
    console.info(
      `message trace: ${traces.length} rows generated, ${served.length} servable, ${written.length} written (${changed.length} with a status change, ${late.length} late), ` +
        `${graph.stats.requests} Graph requests, ${graph.stats.throttled} throttled, ${graph.stats.overQuota} over quota, ${graph.stats.earlyRequests} inside a Retry-After, ` +
        `${c.runtime.stats.throttledWork} windows re-enqueued`,
    );
    expect(graph.stats.throttled).toBeGreaterThan(0);
    expect(graph.stats.earlyRequests).toBe(0);
    expect(graph.stats.overQuota).toBe(0);
    expect(c.runtime.stats.failed + c.runtime.stats.rejectedMessages).toBe(0);
  }, 180_000);
});
