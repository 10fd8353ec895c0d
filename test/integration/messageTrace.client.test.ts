import { Agent, request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { ApiError } from "../../shared/http/errors.js";
import { RequestGate } from "../../shared/http/gate.js";
import { createCredentialFactory } from "../../shared/entra/auth.js";
import { UntrustedUrlError } from "../../shared/http/errors.js";
import type { Simulator, SimulatorRoute } from "../../shared/simulator/server.js";
import { isNextStep, type NextStep, type RecordBatches, type RequestEvent, type Work } from "../../shared/sources/source.js";
import { silentLogger } from "../../shared/util/log.js";
import { graphBudget, MessageTraceClient, type MessageTraceClientOptions, MESSAGE_TRACES_PATH } from "../../shared/sources/message-trace/client.js";
import { type MessageTraceConfig, messageTraceSettings, readMessageTrace } from "../../shared/sources/message-trace/settings.js";
import { type GraphMessageTrace, generateMessageTraces, type MessageTraceRoute, type MessageTraceRouteOptions, messageTraceRoute, traceAt } from "../../shared/sources/message-trace/simulator.js";
import { type MessageTraceItem, messageTraceSource } from "../../shared/sources/message-trace/source.js";
import { CLIENT_ID, SECRET, simulator, TENANT_A, TENANT_B, tenants } from "../helpers/simulator.js";
import { failure } from "../helpers/harness.js";

const H = 3_600_000;
const DAY = 24 * H;
const NOW = Date.parse("2026-11-20T12:00:00.000Z");
const TRACES = generateMessageTraces({
  tenants: tenants([TENANT_A, TENANT_B]),
  from: NOW - 12 * H,
  to: NOW,
  messageIntervalMs: 3 * 60_000,
  lateRate: 0.1,
  lateDelayMs: 2 * H,
  unsettledRate: 0.2,
  settleDelayMs: H,
});

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

/** The feed's settings for the simulator: both tenants, its login host and Graph origin. */
function configFor(sim: Simulator, env: Record<string, string> = {}): MessageTraceConfig {
  return readMessageTrace(
    z.object(messageTraceSettings).parse({
      O365_TENANT_IDS: `${TENANT_A},${TENANT_B}`,
      O365_CLIENT_ID: CLIENT_ID,
      O365_CLIENT_SECRET: SECRET,
      O365_LOGIN_BASE_URL: sim.loginBaseUrl,
      MESSAGE_TRACE_ENABLED: "true",
      MESSAGE_TRACE_GRAPH_BASE_URL: sim.apiBaseUrl,
      ...env,
    }),
  );
}

/** The simulator with Graph's message-trace route (plus any routes given before it), and a client of it. */
async function graph(routeOptions: Partial<MessageTraceRouteOptions> = {}, client: Partial<MessageTraceClientOptions> = {}, before: SimulatorRoute[] = []) {
  const mt: MessageTraceRoute = messageTraceRoute({ traces: TRACES, now: () => NOW, ...routeOptions });
  sim = await simulator({ tenants: tenants([TENANT_A, TENANT_B]), from: NOW - H, to: NOW, blobIntervalMs: H, contentTypes: ["Audit.Exchange"], routes: [...before, mt.route] });
  const sleeps: number[] = [];
  const messageTraces = new MessageTraceClient({
    graphBaseUrl: sim.apiBaseUrl,
    credentialFor: createCredentialFactory(configFor(sim).entra, { requestTimeoutMs: 10_000, trustedCa: sim.ca }),
    dispatcher: new Agent({ connect: { ca: sim.ca } }),
    timeoutMs: 10_000,
    gate: new RequestGate(undefined, graphBudget),
    maxThrottleRetries: 5,
    maxTransientRetries: 2,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...client,
  });
  return { mt, client: messageTraces, sim };
}

/** A message-trace window is fetched in one step: its records, never a next step. */
async function* records(fetched: RecordBatches | NextStep<unknown>): AsyncGenerator<unknown> {
  if (isNextStep(fetched)) throw new Error("a message-trace window has no steps");
  for await (const page of fetched) yield* page;
}

async function listAll(client: MessageTraceClient, tenantId: string, window: { start: number; end: number }) {
  const pages: GraphMessageTrace[][] = [];
  // The client passes rows on unchecked; these are the simulator's own.
  for await (const page of client.listMessageTraces(tenantId, window)) pages.push(page as GraphMessageTrace[]);
  return pages;
}

/**
 * 150 single-page listings of one tenant at once. The gate and the simulator's running window share a
 * virtual clock, so five minutes of waiting take no real time; a wait first lets every request that passed
 * the gate reach the simulator (in real time), as it would long before five minutes had passed.
 */
async function burst(budgetOf: typeof graphBudget | undefined) {
  let t = 0;
  let passed = 0;
  let route: MessageTraceRoute | undefined;
  class CountingGate extends RequestGate {
    override async pass(key: string, maxWaitMs?: number): Promise<void> {
      await super.pass(key, maxWaitMs);
      passed += 1;
    }
  }
  const clock = {
    now: () => t,
    sleep: async (ms: number) => {
      const until = t + ms;
      while ((route?.stats.requests ?? 0) < passed) await new Promise((resolve) => setTimeout(resolve, 5));
      t = Math.max(t, until);
    },
  };
  const { mt, client } = await graph({ quotaClock: () => t }, { gate: new CountingGate(clock, budgetOf) });
  route = mt;
  await Promise.all(Array.from({ length: 150 }, () => listAll(client, TENANT_A, { start: NOW - 60_000, end: NOW })));
  return { stats: mt.stats, waitedMs: t };
}

/**
 * Three listers of one tenant, four listings each, 150 ms apart: later than the simulator's grace for requests
 * already in flight, so a request sent while the tenant is inside a Retry-After counts as early.
 */
async function paced(client: MessageTraceClient) {
  const lister = async () => {
    for (let i = 0; i < 4; i += 1) {
      await listAll(client, TENANT_A, { start: NOW - H, end: NOW });
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  };
  await Promise.all([lister(), lister(), lister()]);
}

describe("Graph message-trace client against the simulator", () => {
  it("follows @odata.nextLink verbatim across pages: every visible row once, newest first, interim statuses as of now", async () => {
    const { mt, client } = await graph({}, { pageSize: 50 });
    const window = { start: NOW - 12 * H, end: NOW };
    const pages = await listAll(client, TENANT_A, window);
    const rows = pages.flat();
    const expected = TRACES.filter((t) => t.tenantId === TENANT_A && t.visibleAt <= NOW).map((t) => traceAt(t, NOW));
    expect(pages.length).toBe(Math.ceil(expected.length / 50));
    expect(pages.length).toBeGreaterThan(3);
    expect(mt.stats.requests).toBe(pages.length);
    expect(new Set(rows.map((r) => `${r.id}|${r.recipientAddress}`)).size).toBe(rows.length);
    expect(rows.map((r) => `${r.id}|${r.recipientAddress}|${r.status}`).sort()).toEqual(expected.map((r) => `${r.id}|${r.recipientAddress}|${r.status}`).sort());
    const received = rows.map((r) => Date.parse(r.receivedDateTime));
    expect(received).toEqual([...received].sort((a, b) => b - a));
    // The demo data is what the issue asks for: messages with several recipients, rows still moving, late rows.
    expect(rows.some((r, i) => rows.findIndex((o) => o.id === r.id) !== i)).toBe(true);
    expect(rows.some((r) => r.status === "gettingStatus" || r.status === "pending")).toBe(true);
    expect(TRACES.some((t) => t.tenantId === TENANT_A && t.visibleAt > NOW)).toBe(true);
    // The token was asked for the Graph resource's scope (here the simulator stands in for graph.microsoft.com).
    expect(new Set(mt.stats.scopes)).toEqual(new Set([`${sim!.apiBaseUrl}/.default`]));
  });

  it("refuses a nextLink to another host, and sends nothing there", async () => {
    let served = 0;
    const hostile: SimulatorRoute = (_req, res, url) => {
      if (url.pathname !== MESSAGE_TRACES_PATH) return false;
      served += 1;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ value: [], "@odata.nextLink": `https://attacker.example${MESSAGE_TRACES_PATH}?$skiptoken=1` }));
      return true;
    };
    const { client } = await graph({}, {}, [hostile]);
    const error = await failure(listAll(client, TENANT_A, { start: NOW - H, end: NOW }));
    expect(error).toBeInstanceOf(UntrustedUrlError);
    expect(String(error)).toContain("attacker.example");
    expect(served).toBe(1);
  });

  it.each([
    ["an interval over 10 days", { start: NOW - 10 * DAY - 60_000, end: NOW }, "10 days"],
    ["a start over 90 days back", { start: NOW - 91 * DAY, end: NOW - 90 * DAY - 60_000 }, "90 days"],
    ["an end after now", { start: NOW - H, end: NOW + 60_000 }, "future"],
  ])("classes the 400 for %s as badWindow", async (_name, window, words) => {
    const { client } = await graph();
    const error = await failure(listAll(client, TENANT_A, window));
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ errorClass: "badWindow", status: 400, code: "BadRequest" });
    expect((error as ApiError).message).toContain(words);
  });

  it("accepts a window of exactly 10 days that ends now", async () => {
    const { client } = await graph();
    await expect(listAll(client, TENANT_A, { start: NOW - 10 * DAY, end: NOW })).resolves.not.toHaveLength(0);
  });

  it("keeps a burst of 150 requests to one tenant inside Graph's quota (no 429), where the same burst without a budget is throttled", async () => {
    const budgeted = await burst(graphBudget);
    expect(budgeted.stats.requests).toBe(150);
    expect(budgeted.stats.throttled).toBe(0);
    expect(budgeted.waitedMs).toBeGreaterThanOrEqual(5 * 60_000); // the budget made the burst wait
    await sim!.stop();
    const unbudgeted = await burst(undefined);
    expect(unbudgeted.stats.throttled).toBeGreaterThan(0);
  });

  it("sends nothing inside a Retry-After: forced 429s hold the tenant's key, and the simulator counts no early request", async () => {
    const { mt, client } = await graph({ throttleRate: 0.3, retryAfterSeconds: 1 }, { maxThrottleRetries: 20 });
    await paced(client);
    expect(mt.stats.throttled).toBeGreaterThan(0);
    expect(mt.stats.earlyRequests).toBe(0);
  });

  it("counts early requests when a client ignores Retry-After (the counter the test above relies on)", async () => {
    class NoHold extends RequestGate {
      override hold(): void {}
    }
    const { mt, client } = await graph({ throttleRate: 0.3, retryAfterSeconds: 1 }, { gate: new NoHold(), maxThrottleRetries: 20 });
    await paced(client);
    expect(mt.stats.throttled).toBeGreaterThan(0);
    expect(mt.stats.earlyRequests).toBeGreaterThan(0);
  });

  it("times a request from when its client sent it, so a request sent before a 429 came back is not counted early when a busy loop delays its reading", async () => {
    const seen: { arrived: number; handled: number }[] = [];
    const probe: SimulatorRoute = (_req, res, url, context) => {
      if (url.pathname !== "/probe") return false;
      seen.push({ arrived: context.arrived, handled: performance.now() });
      res.end();
      return true;
    };
    const { sim } = await graph({}, {}, [probe]);
    const sending = request(`${sim.apiBaseUrl}/probe`, { dispatcher: new Agent({ connect: { ca: sim.ca } }) });
    const sent = performance.now();
    while (performance.now() - sent < 300); // the loop is busy while the connection would be set up
    await (await sending).body.dump();
    const [probed] = seen;
    expect(probed).toBeDefined();
    expect(probed!.arrived).toBeLessThanOrEqual(sent);
    expect(probed!.handled - probed!.arrived).toBeGreaterThanOrEqual(300);
  });

  it("classes the service-principal-less 401 as configuration, with the New-MgServicePrincipal fix, for that tenant only", async () => {
    const { client } = await graph({ withoutServicePrincipal: [TENANT_B] });
    const error = await failure(listAll(client, TENANT_B, { start: NOW - H, end: NOW }));
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ errorClass: "configuration", status: 401 });
    expect((error as ApiError).fix).toContain("New-MgServicePrincipal -AppId 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373");
    expect((error as ApiError).fix).toContain("hours");
    await expect(listAll(client, TENANT_A, { start: NOW - H, end: NOW })).resolves.toBeDefined();
  });
});

describe("the message-trace feed's session against the simulator", () => {
  /** A session of the feed on the simulator (pages of 50), the requests it reports, and the windows' work. */
  async function session(routeOptions: Partial<MessageTraceRouteOptions> = {}) {
    const mt = messageTraceRoute({ traces: TRACES, now: () => NOW, ...routeOptions });
    sim = await simulator({ tenants: tenants([TENANT_A, TENANT_B]), from: NOW - H, to: NOW, blobIntervalMs: H, contentTypes: ["Audit.Exchange"], routes: [mt.route] });
    const events: RequestEvent[] = [];
    const config = configFor(sim, { MESSAGE_TRACE_PAGE_SIZE: "50", MESSAGE_TRACE_LOCAL_DOMAINS: "tenant0.onmicrosoft.com" });
    const opened = await messageTraceSource.open(config, {
      dispatcher: new Agent({ connect: { ca: sim.ca } }),
      gate: new RequestGate(undefined, graphBudget),
      requestTimeoutMs: 10_000,
      trustedCa: sim.ca,
      onRequest: (event) => events.push(event),
      sleep: async () => {},
      now: () => NOW,
      namespace: "default",
      userAgent: "audit-intake-test",
    });
    const workOf = async (tenantId: string, window: { start: number; end: number }) => {
      const works: Work<MessageTraceItem>[] = [];
      for await (const page of opened.list({ tenantId, stream: "MessageTrace" }, window, silentLogger)) works.push(...page);
      return works;
    };
    return { mt, session: opened, events, workOf };
  }

  async function all(rows: AsyncIterable<unknown>): Promise<unknown[]> {
    const out: unknown[] = [];
    for await (const row of rows) out.push(row);
    return out;
  }

  it("plans a first run as windows, lists each as one work item without a request, and fetches every row of each window", async () => {
    const { mt, session: s, events, workOf } = await session();
    const plan = s.plan({ tenantId: TENANT_A, stream: "MessageTrace" }, undefined, NOW);
    expect(plan.windows.length).toBeGreaterThan(1);
    const works = (await Promise.all(plan.windows.map((window) => workOf(TENANT_A, window)))).flat();
    expect(works).toHaveLength(plan.windows.length);
    expect(mt.stats.requests).toBe(0); // the lister sends Graph nothing

    const rows = (await Promise.all(works.map(async (work) => all(records(await s.fetch(work)))))).flat() as GraphMessageTrace[];
    // A row on the boundary of two windows comes in both (ge/le); its claim makes it one record.
    const keys = new Set(rows.map((row) => s.recordKey(row, NOW)?.recordId));
    const first = plan.windows[0]!.start;
    const last = plan.windows.at(-1)!.end;
    const expected = TRACES.filter((t) => t.tenantId === TENANT_A && t.visibleAt <= NOW && t.received >= first && t.received <= last).map((t) => traceAt(t, NOW));
    expect([...keys].sort()).toEqual(expected.map((r) => `${r.id}|${r.recipientAddress}|${r.status}`).sort());
    expect(events.length).toBe(mt.stats.requests);
    expect(mt.stats.requests).toBeGreaterThan(works.length); // some windows took more than one page
    expect(events.every((e) => e.tenantId === TENANT_A && e.stream === "MessageTrace" && e.operation === "messageTraces" && !e.throttled)).toBe(true);

    const lines = rows.map((row) => s.toLine(row, works[0]!));
    expect(lines.every((l) => !l.pipelineError)).toBe(true);
    const doc = JSON.parse(lines[0]!.line) as { data_stream: unknown; email: { direction?: string } };
    expect(doc.data_stream).toEqual({ type: "logs", dataset: "microsoft_exchange_online_message_trace.log", namespace: "default" });
    expect(doc.email.direction).toBeDefined();
  });

  it("reads a tenant without Microsoft's service principal as a configuration failure with its fix", async () => {
    const { session: s, events, workOf } = await session({ withoutServicePrincipal: [TENANT_B] });
    const [work] = await workOf(TENANT_B, { start: NOW - 2 * H, end: NOW - H });
    const error = await failure(all(records(await s.fetch(work!))));
    expect(s.failure(error)).toMatchObject({ errorClass: "configuration", code: "InvalidAuthenticationToken", sent: true });
    expect(s.failure(error)?.fix).toContain("New-MgServicePrincipal");
    expect(events).toEqual([{ tenantId: TENANT_B, stream: "MessageTrace", operation: "messageTraces", throttled: false }]);
  });

  it("goes back on the queue when Graph throttles: one request, reported throttled, with Graph's Retry-After", async () => {
    const { session: s, events, workOf } = await session({ throttleRate: 1, retryAfterSeconds: 30 });
    const [work] = await workOf(TENANT_A, { start: NOW - 2 * H, end: NOW - H });
    const error = await failure(all(records(await s.fetch(work!))));
    expect(s.failure(error)).toMatchObject({ errorClass: "throttled", retryAfterMs: 30_000, sent: true });
    expect(events).toEqual([{ tenantId: TENANT_A, stream: "MessageTrace", operation: "messageTraces", throttled: true }]);
  });
});
