import { MockAgent } from "undici";
import { describe, expect, it } from "vitest";
import { ApiError, UntrustedUrlError } from "../../shared/http/errors.js";
import { RequestGate } from "../../shared/http/gate.js";
import {
  classifySophosError,
  iocQueryTemplate,
  resultsPageSchema,
  RunExpiredError,
  RunFailedError,
  runSchema,
  SOPHOS_TENANT_BUDGET,
  sophosBudget,
  SophosClient,
  sophosFailure,
  type SophosClientOptions,
  tenantsPageSchema,
  tokenSchema,
  trustedApiHost,
  whoamiSchema,
} from "../../shared/sources/sophos-xdr/client.js";
import { normalizeSophosXdr } from "../../shared/sources/sophos-xdr/normalize.js";
import { defaultSophosDirectory, generateXdrRows } from "../../shared/sources/sophos-xdr/simulator.js";

const CLIENT_ID = "6b1f0c2e-4d3a-4b8e-9f1c-2a7d5e9b3c40";
const SECRET = "unit-secret-3c9a7e1f5b";
const TENANT = { id: "ea106f70-96b1-4851-bd31-e4395ea407d2", apiHost: "https://api-eu01.central.sophos.com" };
const RUN_ID = "7d00cf17-a987-4d07-ac88-93d4df89fa73";
const PRODUCTION = { hostSuffix: ".sophos.com" };

describe("trustedApiHost: where our bearer token may go", () => {
  it.each([
    ["a regional host", "https://api-eu01.central.sophos.com"],
    ["the global host with a slash", "https://api.central.sophos.com/"],
    ["a host in capitals", "https://API-US03.Central.Sophos.com"],
  ])("accepts %s under .sophos.com", (_name, host) => {
    expect(trustedApiHost(host, PRODUCTION).protocol).toBe("https:");
  });

  it.each([
    ["plain http", "http://api-eu01.central.sophos.com", "not https"],
    ["a look-alike domain", "https://api-eu01.evilsophos.com", "not under .sophos.com"],
    ["the suffix inside another domain", "https://api.sophos.com.attacker.example", "not under .sophos.com"],
    ["the bare domain", "https://sophos.com", "not under .sophos.com"],
    ["a trailing-dot host", "https://api-eu01.central.sophos.com.", "not under .sophos.com"],
    ["another port", "https://api-eu01.central.sophos.com:8443", "not under .sophos.com"],
    ["credentials", "https://user:pass@api-eu01.central.sophos.com", "credentials"],
    ["a query", "https://api-eu01.central.sophos.com/?next=https://attacker.example", "query or fragment"],
    ["a fragment", "https://api-eu01.central.sophos.com/#x", "query or fragment"],
    ["an encoded separator", "https://api-eu01.central.sophos.com/a%2F..%2Fb", "plain prefix"],
    ["dots in the path", "https://api-eu01.central.sophos.com/a..b", "plain prefix"],
    ["not a URL", "api-eu01.central.sophos.com", "not a URL"],
  ])("refuses %s", (_name, host, reason) => {
    expect(() => trustedApiHost(host, PRODUCTION)).toThrow(UntrustedUrlError);
    expect(() => trustedApiHost(host, PRODUCTION)).toThrow(reason);
  });

  it("for a simulator, accepts exactly its origin, with a region prefix", () => {
    const trust = { origin: "https://127.0.0.1:8443" };
    expect(trustedApiHost("https://127.0.0.1:8443/regions/eu01", trust).pathname).toBe("/regions/eu01");
    expect(() => trustedApiHost("https://localhost:8443/regions/eu01", trust)).toThrow("not the trusted origin");
    expect(() => trustedApiHost("https://127.0.0.1:9443/regions/eu01", trust)).toThrow("not the trusted origin");
  });

  it("refuses a suffix that is not a domain's (no leading dot), in the client and in the check", () => {
    expect(() => trustedApiHost("https://evilsophos.com", { hostSuffix: "sophos.com" })).toThrow("must start with a dot");
    expect(() => new SophosClient(options(new MockAgent(), { trust: { hostSuffix: "sophos.com" } }))).toThrow(RangeError);
  });
});

describe("the response schemas", () => {
  it("read Sophos's answers (the shapes Sekoia.io's connector tests record)", () => {
    expect(tokenSchema.parse({ access_token: "jwt", refresh_token: "r", token_type: "bearer", message: "OK", errorCode: "success", expires_in: 3600 }).expires_in).toBe(3600);
    expect(whoamiSchema.parse({ id: TENANT.id, idType: "tenant", apiHosts: { global: "https://api.central.sophos.com", dataRegion: TENANT.apiHost } }).apiHosts.dataRegion).toBe(TENANT.apiHost);
    const run = runSchema.parse({
      id: RUN_ID,
      createdAt: "2023-06-30T08:14:55.628Z",
      createdBy: { id: "ec3e58df-3b9a-4970-aedc-f9b756f0fd6d", type: "service", accountId: TENANT.id, accountType: "tenant" },
      expiresAt: "2023-06-30T10:14:55.649Z",
      result: "notAvailable",
      status: "pending",
      template: "SELECT * FROM xdr_ioc_view",
      from: "2023-06-29T08:14:55.625Z",
      to: "2023-06-30T08:14:55.625Z",
    });
    expect(run).toMatchObject({ id: RUN_ID, status: "pending", result: "notAvailable" });
    const page = resultsPageSchema.parse({ items: [{ record_identifier: "x" }, 7], metadata: { columns: [] }, pages: { nextKey: "AAAABw==", size: 7, maxSize: 2000, total: 2, items: 8 } });
    expect(page.pages?.nextKey).toBe("AAAABw==");
    expect(page.items).toHaveLength(2); // rows are not checked here: the normalizer reads each
  });

  it.each([
    ["a token that is not a bearer's", tokenSchema, { access_token: "jwt", token_type: "mac", expires_in: 3600 }],
    ["a token without a lifetime", tokenSchema, { access_token: "jwt", token_type: "bearer" }],
    ["an unknown kind of credential", whoamiSchema, { id: TENANT.id, idType: "admin", apiHosts: { global: "https://api.central.sophos.com" } }],
    ["a tenant list without its page count", tenantsPageSchema, { items: [], pages: { current: 1 } }],
    ["a tenant id that could leave its header", tenantsPageSchema, { items: [{ id: "x\r\nX-Evil: 1" }], pages: { current: 1, total: 1 } }],
    ["a run id that could leave its path", runSchema, { id: "../../partner/v1/tenants", status: "finished" }],
    ["results without items", resultsPageSchema, { pages: {} }],
  ])("refuse %s", (_name, schema, value) => {
    expect(schema.safeParse(value).success).toBe(false);
  });
});

describe("classifySophosError", () => {
  it.each([
    ["token", 401, "configuration"],
    ["token", 400, "configuration"],
    ["whoami", 403, "configuration"],
    ["tenants", 403, "configuration"],
    ["submitRun", 400, "badWindow"],
    ["submitRun", 403, "configuration"],
    ["submitRun", 404, "fatal"],
    ["getRun", 404, "expired"],
    ["runResults", 404, "expired"],
    ["runResults", 400, "fatal"],
    ["getRun", 429, "throttled"],
    ["token", 503, "transient"],
    ["runResults", 408, "transient"],
    ["whoami", 418, "fatal"],
  ] as const)("%s HTTP %i is %s", (operation, status, errorClass) => {
    expect(classifySophosError(operation, status, CLIENT_ID, TENANT.id).errorClass).toBe(errorClass);
  });

  it("names the credential, its role and Data Lake uploads when the credential is refused; the tenant when one tenant refuses", () => {
    const credential = classifySophosError("token", 401, CLIENT_ID).fix ?? "";
    expect(credential).toContain(CLIENT_ID);
    expect(credential).toContain("role");
    expect(credential).toContain("Data Lake uploads");
    const tenant = classifySophosError("submitRun", 403, CLIENT_ID, TENANT.id).fix ?? "";
    expect(tenant).toContain(TENANT.id);
    expect(tenant).toContain("Partner Assistance");
    expect(tenant).toContain("Data Lake uploads");
  });
});

describe("sophosFailure: the client's errors in the pipeline's terms", () => {
  it("passes an ApiError's class, fix, code and Retry-After on; nothing was sent when it has no status", () => {
    expect(sophosFailure(new ApiError("throttled", 429, "TooManyRequests", "getRun: HTTP 429", undefined, 30_000))).toMatchObject({ errorClass: "throttled", code: "TooManyRequests", retryAfterMs: 30_000, sent: true });
    expect(sophosFailure(new ApiError("configuration", 401, undefined, "token: HTTP 401", "the fix"))).toMatchObject({ errorClass: "configuration", fix: "the fix", code: "401", sent: true });
    expect(sophosFailure(new ApiError("throttled", undefined, undefined, "throttled at the gate"))).toMatchObject({ errorClass: "throttled", sent: false });
  });

  it("submits a window again after a run that expired or failed (no data is lost), refuses an untrusted host, and leaves other errors to the queue", () => {
    expect(sophosFailure(new RunExpiredError(TENANT.id, RUN_ID, "HTTP 404"))).toMatchObject({ errorClass: "transient", code: "expired" });
    expect(sophosFailure(new RunFailedError(TENANT.id, RUN_ID, "timedOut"))).toMatchObject({ errorClass: "transient", code: "timedOut" });
    expect(sophosFailure(new UntrustedUrlError("host x"))).toMatchObject({ errorClass: "fatal", sent: false });
    expect(sophosFailure(new Error("other"))).toBeUndefined();
  });
});

describe("the simulator's rows", () => {
  const rows = generateXdrRows({ tenantIds: defaultSophosDirectory().flatMap((c) => c.tenants.map((t) => t.id)), from: Date.parse("2026-11-20T00:00:00Z"), to: Date.parse("2026-11-21T00:00:00Z"), detectionIntervalMs: 10 * 60_000, lateRate: 0.1 });

  it("are reproducible, each with its own record_identifier, ingested after their calendar_time", () => {
    expect(generateXdrRows({ tenantIds: ["a"], from: 0, to: 3_600_000, detectionIntervalMs: 60_000, seed: 5 })).toEqual(generateXdrRows({ tenantIds: ["a"], from: 0, to: 3_600_000, detectionIntervalMs: 60_000, seed: 5 }));
    expect(new Set(rows.map((r) => r.row.record_identifier)).size).toBe(rows.length);
    expect(rows.every((r) => Date.parse(r.row.ingestion_timestamp as string) > r.calendarTime && r.visibleAt > Date.parse(r.row.ingestion_timestamp as string))).toBe(true);
    expect(rows.some((r) => r.visibleAt - r.calendarTime > 3_600_000)).toBe(true); // late rows
  });

  it("cover the seed's query families, and every one maps to ECS without a pipeline error", () => {
    const families = new Map<string, Set<string>>();
    for (const { row } of rows) {
      const doc = normalizeSophosXdr(row, { now: () => 0, preserveOriginal: false }) as { event: { kind: string; category?: string[] } };
      expect(doc.event.kind).toBe("alert");
      const category = doc.event.category?.join(",") ?? "";
      families.set(category, (families.get(category) ?? new Set()).add(row.query_name as string));
    }
    expect([...families.keys()].sort()).toEqual(["authentication", "iam", "intrusion_detection", "process", "vulnerability"]);
    expect(families.get("iam")).toEqual(new Set(["windows_event_user_account_created", "windows_event_user_account_changed", "windows_query_event"]));
  });
});

describe("the feed's query and budget", () => {
  it("asks xdr_ioc_view for detections above the threshold, which must be a whole number", () => {
    expect(iocQueryTemplate(3)).toBe("SELECT * FROM xdr_ioc_view WHERE ioc_detection_weight > 3");
    expect(() => iocQueryTemplate(3.5)).toThrow(RangeError);
    expect(() => iocQueryTemplate(-1)).toThrow(RangeError);
  });

  it("budgets every tenant key, and nothing else", () => {
    expect(sophosBudget(`sophos:${TENANT.id}`)).toBe(SOPHOS_TENANT_BUDGET);
    expect(sophosBudget(`sophos-id:${CLIENT_ID}`)).toBeUndefined();
    expect(sophosBudget(`graph:${TENANT.id}`)).toBeUndefined();
  });
});

function options(agent: MockAgent, overrides: Partial<SophosClientOptions> = {}): SophosClientOptions {
  return {
    credential: { clientId: CLIENT_ID, clientSecret: SECRET },
    dispatcher: agent,
    timeoutMs: 1_000,
    gate: new RequestGate(undefined, sophosBudget),
    maxThrottleRetries: 0,
    maxTransientRetries: 0,
    sleep: async () => {},
    ...overrides,
  };
}

/** Sophos's three hosts on a mock dispatcher that lets nothing else out. */
function mockSophos() {
  const agent = new MockAgent();
  agent.disableNetConnect();
  const forms: URLSearchParams[] = [];
  const id = agent.get("https://id.sophos.com");
  const region = agent.get(TENANT.apiHost);
  const token = (value: string, status = 200) =>
    id
      .intercept({ path: "/api/v2/oauth2/token", method: "POST" })
      .reply(status, (opts) => {
        forms.push(new URLSearchParams(String(opts.body)));
        return status === 200 ? { access_token: value, token_type: "bearer", expires_in: 3600 } : { errorCode: "oauth.invalid_client_secret", message: "Unauthorized" };
      });
  const getRun = (status = 200, authorization?: string) =>
    region
      .intercept({ path: `/xdr-query/v1/queries/runs/${RUN_ID}`, method: "GET", ...(authorization ? { headers: { authorization } } : {}) })
      .reply(status, status === 200 ? { id: RUN_ID, status: "started" } : { error: "Unauthorized", message: "Unauthorized" });
  return { agent, forms, token, getRun, region };
}

describe("the client's token", () => {
  it("asks Sophos ID with the client-credentials form once, for concurrent requests, and renews it five minutes before it expires", async () => {
    const { agent, forms, token, getRun } = mockSophos();
    let now = Date.parse("2026-11-20T12:00:00Z");
    token("first");
    for (let i = 0; i < 4; i += 1) getRun(200, "Bearer first");
    const client = new SophosClient(options(agent, { now: () => now }));
    await Promise.all([client.getRun(TENANT, RUN_ID), client.getRun(TENANT, RUN_ID), client.getRun(TENANT, RUN_ID)]);
    expect(forms).toHaveLength(1);
    expect(Object.fromEntries(forms[0]!)).toEqual({ grant_type: "client_credentials", client_id: CLIENT_ID, client_secret: SECRET, scope: "token" });
    now += 54 * 60_000; // 6 minutes left: still this one
    await client.getRun(TENANT, RUN_ID);
    expect(forms).toHaveLength(1);
    now += 2 * 60_000; // 4 minutes left: renewed
    token("second");
    getRun(200, "Bearer second");
    await client.getRun(TENANT, RUN_ID);
    expect(forms).toHaveLength(2);
    await agent.close();
  });

  it("carries on with a token that has minutes left while Sophos ID fails to renew it", async () => {
    const { agent, token, getRun } = mockSophos();
    let now = Date.parse("2026-11-20T12:00:00Z");
    token("first");
    getRun(200, "Bearer first");
    const client = new SophosClient(options(agent, { now: () => now }));
    await client.getRun(TENANT, RUN_ID);
    now += 57 * 60_000;
    token("unused", 503);
    getRun(200, "Bearer first");
    await expect(client.getRun(TENANT, RUN_ID)).resolves.toMatchObject({ status: "started" });
    await agent.close();
  });

  it("renews a token the API no longer takes (401 with a token issued earlier) and sends the request again", async () => {
    const { agent, forms, token, getRun } = mockSophos();
    token("revoked");
    getRun(200, "Bearer revoked");
    const client = new SophosClient(options(agent, { maxTransientRetries: 1 }));
    await client.getRun(TENANT, RUN_ID);
    getRun(401, "Bearer revoked");
    token("fresh");
    getRun(200, "Bearer fresh");
    await expect(client.getRun(TENANT, RUN_ID)).resolves.toMatchObject({ id: RUN_ID });
    expect(forms).toHaveLength(2);
    await agent.close();
  });

  it("takes a 401 with a token just issued as the credential's configuration", async () => {
    const { agent, token, getRun } = mockSophos();
    token("new");
    getRun(401, "Bearer new");
    const error = await new SophosClient(options(agent, { maxTransientRetries: 3 })).getRun(TENANT, RUN_ID).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ errorClass: "configuration", status: 401 });
    await agent.close();
  });

  it("never puts the secret in the error of a refused token", async () => {
    const { agent, token } = mockSophos();
    token("", 401);
    const error = (await new SophosClient(options(agent)).whoami().catch((e: unknown) => e)) as ApiError;
    expect(error).toMatchObject({ errorClass: "configuration", status: 401, code: "oauth.invalid_client_secret" });
    for (const text of [error.message, error.fix ?? "", JSON.stringify(error), String(error.stack)]) expect(text).not.toContain(SECRET);
    await agent.close();
  });
});

describe("the client's requests", () => {
  it("sends nothing (not even for a token) for a tenant whose apiHost is not Sophos's, or whose ids could leave the path or header", async () => {
    const agent = new MockAgent();
    agent.disableNetConnect(); // any request would fail the test with a connection error, not UntrustedUrlError
    const client = new SophosClient(options(agent));
    await expect(client.getRun({ id: TENANT.id, apiHost: "https://api-eu01.central.sophos.com.attacker.example" }, RUN_ID)).rejects.toThrow(UntrustedUrlError);
    await expect(client.getRun({ id: "x\r\nX-Evil: 1", apiHost: TENANT.apiHost }, RUN_ID)).rejects.toThrow(UntrustedUrlError);
    await expect(client.getRun(TENANT, "../../whoami/v1")).rejects.toThrow(UntrustedUrlError);
    await agent.close();
  });

  it("refuses a result page size above 2000, and a nextKey given twice", async () => {
    const { agent, token, region } = mockSophos();
    token("t");
    const client = new SophosClient(options(agent));
    await expect(client.resultPages(TENANT, RUN_ID, 2001).next()).rejects.toThrow(RangeError);
    region.intercept({ path: (path) => path.startsWith(`/xdr-query/v1/queries/runs/${RUN_ID}/results`), method: "GET" }).reply(200, { items: [{}], pages: { nextKey: "AAAAAQ==" } }).times(3);
    const pages = client.resultPages(TENANT, RUN_ID, 1);
    await pages.next();
    await pages.next();
    await expect(pages.next()).rejects.toMatchObject({ errorClass: "fatal", message: expect.stringContaining("nextKey repeated") });
    await agent.close();
  });

  it("sends the run's window and threshold as Sophos's run body, to the tenant's data region with X-Tenant-ID", async () => {
    const { agent, token, region } = mockSophos();
    token("t");
    let sent: { body: unknown; tenant: unknown } | undefined;
    region.intercept({ path: "/xdr-query/v1/queries/runs", method: "POST" }).reply(201, (opts) => {
      const headers = opts.headers as Record<string, string>;
      sent = { body: JSON.parse(String(opts.body)), tenant: headers["X-Tenant-ID"] ?? headers["x-tenant-id"] };
      return { id: RUN_ID, status: "pending", result: "notAvailable" };
    });
    const run = await new SophosClient(options(agent)).submitRun(TENANT, { from: Date.parse("2026-11-20T10:00:00Z"), to: Date.parse("2026-11-20T11:00:00Z"), threshold: 3 });
    expect(run.id).toBe(RUN_ID);
    expect(sent).toEqual({
      tenant: TENANT.id,
      body: { adHocQuery: { template: "SELECT * FROM xdr_ioc_view WHERE ioc_detection_weight > 3" }, from: "2026-11-20T10:00:00.000Z", to: "2026-11-20T11:00:00.000Z" },
    });
    await agent.close();
  });
});
