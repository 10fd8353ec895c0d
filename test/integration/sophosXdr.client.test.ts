import { Agent } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { ApiError, UntrustedUrlError } from "../../shared/http/errors.js";
import { RequestGate } from "../../shared/http/gate.js";
import type { Simulator, SimulatorRoute } from "../../shared/simulator/server.js";
import type { RequestEvent } from "../../shared/sources/source.js";
import { RunExpiredError, RunFailedError, SophosClient, type SophosClientOptions, type SophosTenant, sophosBudget } from "../../shared/sources/sophos-xdr/client.js";
import {
  defaultSophosDirectory,
  generateXdrRows,
  rowsOfRun,
  type SimulatedSophosCredential,
  type SophosXdrRoute,
  type SophosXdrRouteOptions,
  sophosXdrRoute,
} from "../../shared/sources/sophos-xdr/simulator.js";
import { failure } from "../helpers/harness.js";
import { simulator } from "../helpers/simulator.js";

const H = 3_600_000;
const NOW = Date.parse("2026-11-20T12:00:00.000Z");
const DIRECTORY = defaultSophosDirectory();
const TENANT_CREDENTIAL = DIRECTORY.find((c) => c.idType === "tenant") as SimulatedSophosCredential;
const PARTNER_CREDENTIAL = DIRECTORY.find((c) => c.idType === "partner") as SimulatedSophosCredential;
const CONTOSO = TENANT_CREDENTIAL.tenants[0]!;
const ROWS = generateXdrRows({
  tenantIds: DIRECTORY.flatMap((c) => c.tenants.map((t) => t.id)),
  from: NOW - 24 * H,
  to: NOW,
  detectionIntervalMs: 4 * 60_000,
  lateRate: 0.1,
  lateDelayMs: 2 * H,
});
const WINDOW = { from: NOW - 12 * H, to: NOW, threshold: 3 };

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

/** The simulator with the Sophos routes (plus any given before them), and a client of one credential that never really sleeps. */
async function sophos(routeOptions: Partial<SophosXdrRouteOptions> = {}, client: Partial<SophosClientOptions> = {}, credential = TENANT_CREDENTIAL, before: SimulatorRoute[] = []) {
  const xdr: SophosXdrRoute = sophosXdrRoute({ directory: DIRECTORY, rows: ROWS, now: () => NOW, ...routeOptions });
  sim = await simulator({ from: NOW - H, to: NOW, blobIntervalMs: H, contentTypes: ["Audit.Exchange"], routes: [...before, xdr.route] });
  const events: RequestEvent[] = [];
  const sleeps: number[] = [];
  const sophosClient = new SophosClient({
    credential: { clientId: credential.clientId, clientSecret: credential.clientSecret },
    idBaseUrl: sim.apiBaseUrl,
    globalBaseUrl: sim.apiBaseUrl,
    trust: { origin: sim.apiBaseUrl },
    dispatcher: new Agent({ connect: { ca: sim.ca } }),
    timeoutMs: 10_000,
    gate: new RequestGate(undefined, sophosBudget),
    maxThrottleRetries: 5,
    maxTransientRetries: 2,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    onRequest: (event) => events.push(event),
    ...client,
  });
  return { xdr, client: sophosClient, events, sleeps, sim };
}

async function collect(pages: AsyncIterable<unknown[]>): Promise<unknown[][]> {
  const out: unknown[][] = [];
  for await (const page of pages) out.push(page);
  return out;
}

/** A run of the window, polled to its end, and every row it has. */
async function runAll(client: SophosClient, tenant: SophosTenant, pageSize = 2000) {
  const run = await client.submitRun(tenant, WINDOW);
  await client.awaitRun(tenant, run.id, { intervalMs: 2_000 });
  const pages = await collect(client.resultPages(tenant, run.id, pageSize));
  return { run, pages, rows: pages.flat() as Record<string, unknown>[] };
}

describe("Sophos XDR client against the simulator", () => {
  it("a tenant credential: whoami names the tenant and its data region, which is its one tenant", async () => {
    const { client, xdr, sim } = await sophos();
    await expect(client.whoami()).resolves.toEqual({ id: CONTOSO.id, idType: "tenant", apiHosts: { global: sim.apiBaseUrl, dataRegion: `${sim.apiBaseUrl}/regions/eu01` } });
    const listing = await client.tenants();
    expect(listing).toEqual({ idType: "tenant", tenants: [{ id: CONTOSO.id, apiHost: `${sim.apiBaseUrl}/regions/eu01` }], skipped: [] });
    // whoami is asked once per client, and one token served both calls.
    expect(xdr.stats).toMatchObject({ globalRequests: 1, tokenRequests: 1, tokensIssued: 1 });
  });

  it("a partner credential: every page of its tenant list, the tenant without an apiHost skipped with the reason, and a query in each data region", async () => {
    const { client, xdr, events, sim } = await sophos({ tenantPageSize: 2 }, {}, PARTNER_CREDENTIAL);
    const listing = await client.tenants();
    expect(listing.idType).toBe("partner");
    expect(xdr.stats.globalRequests).toBe(3); // whoami and two pages of two tenants
    expect(listing.tenants.map((t) => [t.name, t.apiHost, t.dataRegion])).toEqual([
      ["Fabrikam Inc", `${sim.apiBaseUrl}/regions/eu01`, "eu01"],
      ["Northwind Traders", `${sim.apiBaseUrl}/regions/us03`, "us03"],
      ["Adatum Corporation", `${sim.apiBaseUrl}/regions/eu01`, "eu01"],
    ]);
    expect(listing.skipped).toEqual([{ id: "a1b2c3d4-3333-4a2b-8c3d-0e1f2a3b4c03", name: "Tailspin Toys", reason: expect.stringContaining("no apiHost") }]);
    expect(events.filter((e) => e.operation === "tenants")).toEqual([
      { tenantId: PARTNER_CREDENTIAL.clientId, stream: "XdrIoc", operation: "tenants", throttled: false },
      { tenantId: PARTNER_CREDENTIAL.clientId, stream: "XdrIoc", operation: "tenants", throttled: false },
    ]);
    for (const tenant of listing.tenants) {
      const { rows } = await runAll(client, tenant);
      expect(rows.map((r) => r.record_identifier)).toEqual(rowsOfRun(ROWS, tenant.id, WINDOW, NOW).map((r) => r.row.record_identifier));
      expect(rows.every((r) => r.customer_id === tenant.id)).toBe(true);
    }
    expect(xdr.stats.runsSubmitted).toBe(3);
  });

  it("an organization credential: its tenants with X-Organization-ID", async () => {
    const organization: SimulatedSophosCredential = { ...PARTNER_CREDENTIAL, clientId: "0e9d8c7b-6a5f-4e3d-9c2b-1a0f9e8d7c6b", idType: "organization", id: "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b" };
    const xdr = sophosXdrRoute({ directory: [...DIRECTORY, organization], rows: ROWS, now: () => NOW });
    const { client } = await sophos({}, {}, organization, [xdr.route]);
    const listing = await client.tenants();
    expect(listing.idType).toBe("organization");
    expect(listing.tenants.map((t) => t.name)).toEqual(["Fabrikam Inc", "Northwind Traders", "Adatum Corporation"]);
  });

  it("submits, polls until finished and reads every result page by nextKey: each row once, weights above the threshold, late rows not yet there", async () => {
    const { client, xdr, events, sleeps } = await sophos({ runningPolls: [2, 4] });
    const [tenant] = (await client.tenants()).tenants;
    const run = await client.submitRun(tenant!, WINDOW);
    expect(run).toMatchObject({ status: "pending", result: "notAvailable" });
    const finished = await client.awaitRun(tenant!, run.id, { intervalMs: 2_000 });
    expect(finished).toMatchObject({ id: run.id, status: "finished", result: "succeeded" });
    const polls = xdr.runs.get(run.id)!.polls;
    expect(polls).toBeGreaterThanOrEqual(2);
    expect(sleeps.filter((ms) => ms === 2_000)).toHaveLength(polls);

    const pages = await collect(client.resultPages(tenant!, run.id, 25));
    const rows = pages.flat() as Record<string, unknown>[];
    const expected = rowsOfRun(ROWS, CONTOSO.id, WINDOW, NOW);
    expect(pages.length).toBe(Math.ceil(expected.length / 25));
    expect(pages.length).toBeGreaterThan(2);
    expect(rows.map((r) => r.record_identifier)).toEqual(expected.map((r) => r.row.record_identifier));
    expect(new Set(rows.map((r) => r.record_identifier)).size).toBe(rows.length);
    expect(rows.every((r) => (r.ioc_detection_weight as number) > 3)).toBe(true);
    // The data is what the feed meets: several query families, rows filtered out by weight, late rows still to come.
    expect(new Set(rows.map((r) => r.query_name)).size).toBeGreaterThanOrEqual(5);
    const inWindow = ROWS.filter((r) => r.tenantId === CONTOSO.id && r.calendarTime >= WINDOW.from && r.calendarTime <= WINDOW.to);
    expect(inWindow.some((r) => r.weight <= 3)).toBe(true);
    expect(inWindow.some((r) => r.weight > 3 && r.visibleAt > NOW)).toBe(true);

    const operations = events.map((e) => e.operation);
    expect(operations).toEqual(["whoami", "submitRun", ...Array(polls).fill("getRun"), ...Array(pages.length).fill("runResults")]);
    expect(events.filter((e) => e.operation !== "whoami").every((e) => e.tenantId === CONTOSO.id && e.stream === "XdrIoc" && !e.throttled)).toBe(true);
  });

  it("reports a run that finished without results as RunFailedError", async () => {
    const { client, xdr } = await sophos({ failRate: 1 });
    const [tenant] = (await client.tenants()).tenants;
    const run = await client.submitRun(tenant!, WINDOW);
    const error = await failure(client.awaitRun(tenant!, run.id));
    expect(error).toBeInstanceOf(RunFailedError);
    expect(error).toMatchObject({ tenantId: CONTOSO.id, runId: run.id, result: "failed" });
    expect(xdr.stats.runsFailed).toBe(1);
  });

  it("reports a run gone when it finished, and one whose two hours passed before its results were read, as RunExpiredError", async () => {
    const gone = await sophos({ expireRate: 1 });
    const [tenant] = (await gone.client.tenants()).tenants;
    const run = await gone.client.submitRun(tenant!, WINDOW);
    const error = await failure(gone.client.awaitRun(tenant!, run.id));
    expect(error).toBeInstanceOf(RunExpiredError);
    expect(error).toMatchObject({ tenantId: CONTOSO.id, runId: run.id, errorClass: "expired" });
    expect(gone.xdr.stats.runsExpired).toBe(1);
    await sim!.stop();

    let now = NOW;
    const late = await sophos({ now: () => now });
    const [same] = (await late.client.tenants()).tenants;
    const run2 = await late.client.submitRun(same!, WINDOW);
    await late.client.awaitRun(same!, run2.id);
    now += 2 * H;
    const expired = await failure(collect(late.client.resultPages(same!, run2.id)));
    expect(expired).toBeInstanceOf(RunExpiredError);
    expect((expired as RunExpiredError).runId).toBe(run2.id);
    expect(late.xdr.stats.runsExpired).toBe(1);
  });

  it("classes the 400 for a `from` in the future as badWindow, with Sophos's message", async () => {
    const { client } = await sophos();
    const [tenant] = (await client.tenants()).tenants;
    const error = await failure(client.submitRun(tenant!, { from: NOW + 60_000, to: NOW + 2 * 60_000, threshold: 3 }));
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ errorClass: "badWindow", status: 400, code: "ValidationException" });
    expect((error as ApiError).message).toContain("cannot be in the future");
  });

  it("classes a wrong secret as configuration, with a fix naming the credential, its role and Data Lake uploads, and never the secret", async () => {
    const secret = "wrong-secret-9f8e7d6c5b4a";
    const { client, xdr } = await sophos({}, { credential: { clientId: TENANT_CREDENTIAL.clientId, clientSecret: secret } });
    const error = await failure(client.tenants());
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ errorClass: "configuration", status: 401, code: "oauth.invalid_client_secret" });
    const fix = (error as ApiError).fix ?? "";
    expect(fix).toContain(TENANT_CREDENTIAL.clientId);
    expect(fix).toContain("role");
    expect(fix).toContain("Data Lake uploads");
    for (const text of [(error as ApiError).message, fix, JSON.stringify(error), String((error as Error).stack)]) expect(text).not.toContain(secret);
    // Refused once, not retried, and nothing was asked with no token.
    expect(xdr.stats).toMatchObject({ tokenRequests: 1, globalRequests: 0, requests: 0 });
  });

  it("shares one token between concurrent requests", async () => {
    const { client, xdr } = await sophos();
    const [tenant] = (await client.tenants()).tenants;
    const run = await client.submitRun(tenant!, WINDOW);
    await Promise.all(Array.from({ length: 10 }, () => client.getRun(tenant!, run.id)));
    expect(xdr.stats.tokensIssued).toBe(1);
  });

  it("never sends the token to a host whoami or the tenant list names outside the trusted origin", async () => {
    const foreign: string[] = [];
    let port = "";
    // Same server, another origin (localhost instead of 127.0.0.1): a request sent there would be seen here.
    const spy: SimulatorRoute = (req) => {
      if (req.headers.host !== `127.0.0.1:${port}`) foreign.push(`${req.method} ${req.url}`);
      return false;
    };
    const forgedWhoami: SimulatorRoute = (_req, res, url, context) => {
      if (url.pathname !== "/whoami/v1") return false;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id: CONTOSO.id, idType: "tenant", apiHosts: { global: context.baseUrl, dataRegion: `https://localhost:${port}/regions/eu01` } }));
      return true;
    };
    const tenantSide = await sophos({}, {}, TENANT_CREDENTIAL, [spy, forgedWhoami]);
    port = new URL(tenantSide.sim.apiBaseUrl).port;
    const error = await failure(tenantSide.client.tenants());
    expect(error).toBeInstanceOf(UntrustedUrlError);
    expect(String(error)).toContain("localhost");
    // A tenant from a forged queue message: refused before any request.
    const forged = await failure(tenantSide.client.submitRun({ id: CONTOSO.id, apiHost: `https://localhost:${port}/regions/eu01` }, WINDOW));
    expect(forged).toBeInstanceOf(UntrustedUrlError);
    expect(tenantSide.xdr.stats.requests).toBe(0);
    await sim!.stop();

    const forgedList: SimulatorRoute = (_req, res, url) => {
      if (url.pathname !== "/partner/v1/tenants") return false;
      const items = [
        { id: "a1b2c3d4-1111-4a2b-8c3d-0e1f2a3b4c01", name: "Fabrikam Inc", apiHost: `https://localhost:${port}/regions/eu01` },
        { id: "a1b2c3d4-2222-4a2b-8c3d-0e1f2a3b4c02", name: "Northwind Traders", apiHost: `http://127.0.0.1:${port}/regions/us03` },
      ];
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ items, pages: { current: 1, total: 1 } }));
      return true;
    };
    const partnerSide = await sophos({}, {}, PARTNER_CREDENTIAL, [spy, forgedList]);
    port = new URL(partnerSide.sim.apiBaseUrl).port;
    const listing = await partnerSide.client.tenants();
    expect(listing.tenants).toEqual([]);
    expect(listing.skipped.map((s) => [s.name, s.reason])).toEqual([
      ["Fabrikam Inc", expect.stringContaining("not the trusted origin")],
      ["Northwind Traders", expect.stringContaining("not https")],
    ]);
    expect(foreign).toEqual([]);
  });
});

describe("the Sophos XDR client's throttling against the simulator's per-tenant quota and 429s", () => {
  /**
   * 120 status polls of one run at once. The gate and the simulator's quota window share a virtual clock, so a
   * minute of waiting takes no real time; a wait first lets every request that passed the gate reach the
   * simulator (in real time), as it would long before a minute had passed.
   */
  async function burst(budgetOf: typeof sophosBudget | undefined) {
    let t = 0;
    let passed = 0;
    let xdr: SophosXdrRoute | undefined;
    class CountingGate extends RequestGate {
      override async pass(key: string, maxWaitMs?: number): Promise<void> {
        await super.pass(key, maxWaitMs);
        if (key.startsWith("sophos:")) passed += 1;
      }
    }
    const clock = {
      now: () => t,
      sleep: async (ms: number) => {
        const until = t + ms;
        // Yield first: callers that passed in this same turn count themselves only once it is over.
        do await new Promise((resolve) => setTimeout(resolve, 5));
        while ((xdr?.stats.requests ?? 0) < passed);
        t = Math.max(t, until);
      },
    };
    const started = await sophos({ quotaClock: () => t, runningPolls: [1000, 1000] }, { gate: new CountingGate(clock, budgetOf), maxThrottleRetries: 10 });
    xdr = started.xdr;
    const [tenant] = (await started.client.tenants()).tenants;
    const run = await started.client.submitRun(tenant!, WINDOW);
    await Promise.all(Array.from({ length: 120 }, () => started.client.getRun(tenant!, run.id)));
    return { stats: started.xdr.stats, waitedMs: t };
  }

  it("keeps a burst of 120 requests to one tenant inside the simulated quota (no 429) with the budget, where the same burst without it is throttled", async () => {
    const budgeted = await burst(sophosBudget);
    expect(budgeted.stats.requests).toBe(121);
    expect(budgeted.stats.throttled).toBe(0);
    expect(budgeted.waitedMs).toBeGreaterThanOrEqual(2 * 60_000); // 121 requests at 50 a minute
    await sim!.stop();
    const unbudgeted = await burst(undefined);
    expect(unbudgeted.stats.overQuota).toBeGreaterThan(0);
  });

  /** Three pollers of one tenant, six polls each, 150 ms apart: later than the simulator's grace for requests in flight. */
  async function paced(client: SophosClient, tenant: SophosTenant, runId: string) {
    const poller = async () => {
      for (let i = 0; i < 6; i += 1) {
        await client.getRun(tenant, runId);
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    };
    await Promise.all([poller(), poller(), poller()]);
  }

  it("sends nothing inside a Retry-After: 429s hold the tenant's key, and the simulator counts no early request", async () => {
    const { client, xdr, events } = await sophos({ throttleRate: 0.3, retryAfterSeconds: 1, runningPolls: [1000, 1000] }, { maxThrottleRetries: 20 });
    const [tenant] = (await client.tenants()).tenants;
    const run = await client.submitRun(tenant!, WINDOW);
    await paced(client, tenant!, run.id);
    expect(xdr.stats.throttled).toBeGreaterThan(0);
    expect(xdr.stats.earlyRequests).toBe(0);
    expect(events.filter((e) => e.throttled)).toHaveLength(xdr.stats.throttled);
  });

  it("counts early requests when a client ignores Retry-After (the counter the test above relies on)", async () => {
    class NoHold extends RequestGate {
      override hold(): void {}
    }
    const { client, xdr } = await sophos({ throttleRate: 0.3, retryAfterSeconds: 1, runningPolls: [1000, 1000] }, { gate: new NoHold(), maxThrottleRetries: 20 });
    const [tenant] = (await client.tenants()).tenants;
    const run = await client.submitRun(tenant!, WINDOW);
    await paced(client, tenant!, run.id);
    expect(xdr.stats.throttled).toBeGreaterThan(0);
    expect(xdr.stats.earlyRequests).toBeGreaterThan(0);
  });

  it("retries a 503 with backoff and reports the request", async () => {
    const { client, xdr, events, sleeps } = await sophos({ serverErrorRate: 0.5, runningPolls: [1000, 1000] }, { maxTransientRetries: 10 });
    const [tenant] = (await client.tenants()).tenants;
    const run = await client.submitRun(tenant!, WINDOW);
    for (let i = 0; i < 6; i += 1) await client.getRun(tenant!, run.id);
    expect(xdr.stats.serverErrors).toBeGreaterThan(0);
    expect(sleeps).toHaveLength(xdr.stats.serverErrors);
    expect(events.filter((e) => e.operation !== "whoami")).toHaveLength(xdr.stats.requests);
  });
});
