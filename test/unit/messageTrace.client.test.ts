import type { TokenCredential } from "@azure/identity";
import { MockAgent } from "undici";
import { describe, expect, it } from "vitest";
import { ApiError } from "../../shared/http/errors.js";
import { RequestGate } from "../../shared/http/gate.js";
import type { RequestEvent } from "../../shared/sources/source.js";
import { classifyGraphError, graphBudget, MESSAGE_TRACES_PATH, MessageTraceClient, type MessageTraceClientOptions, PERMISSION_FIX, SERVICE_PRINCIPAL_FIX } from "../../shared/sources/message-trace/client.js";

const H = 3_600_000;
const TENANT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

describe("Graph message-trace client against Graph's own origin (a mock dispatcher)", () => {
  it("asks for the token scope https://graph.microsoft.com/.default and sends the window as Graph's $filter", async () => {
    const scopes: string[] = [];
    const credential: TokenCredential = {
      async getToken(scope) {
        scopes.push(...[scope].flat());
        return { token: "t", expiresOnTimestamp: Date.now() + H };
      },
    };
    const agent = new MockAgent();
    agent.disableNetConnect();
    const paths: string[] = [];
    agent
      .get("https://graph.microsoft.com")
      .intercept({ path: (path) => (paths.push(path), path.startsWith(MESSAGE_TRACES_PATH)), method: "GET" })
      .reply(200, { value: [] });
    const client = new MessageTraceClient({
      graphBaseUrl: "https://graph.microsoft.com",
      credentialFor: () => credential,
      dispatcher: agent,
      timeoutMs: 1_000,
      gate: new RequestGate(undefined, graphBudget),
      maxThrottleRetries: 0,
      maxTransientRetries: 0,
    });
    await collect(client, { start: Date.parse("2026-11-20T10:00:00Z"), end: Date.parse("2026-11-20T11:00:00Z") });
    expect(scopes).toEqual(["https://graph.microsoft.com/.default"]);
    const query = new URL(paths[0] as string, "https://graph.microsoft.com").searchParams;
    expect(query.get("$filter")).toBe("receivedDateTime ge 2026-11-20T10:00:00.000Z and receivedDateTime le 2026-11-20T11:00:00.000Z");
    expect(query.get("$top")).toBe("5000");
    await agent.close();
  });

  it("passes every row of a page on as it came, a malformed one too (the normalizer writes it as a pipeline_error document)", async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    const good = { id: "4c2b3e7a-51f0-4d8e-9a41-08de2f1c0a11", recipientAddress: "megan@contoso.com", status: "delivered", receivedDateTime: "2026-11-20T10:30:00Z" };
    const rows = [good, 42, { id: 7, status: null }];
    agent.get("https://graph.microsoft.com").intercept({ path: (path) => path.startsWith(MESSAGE_TRACES_PATH), method: "GET" }).reply(200, { value: rows });
    const pages = await collect(client(agent), WINDOW);
    expect(pages).toEqual([rows]);
    await agent.close();
  });

  it("still refuses a page that is not one", async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    agent.get("https://graph.microsoft.com").intercept({ path: (path) => path.startsWith(MESSAGE_TRACES_PATH), method: "GET" }).reply(200, { value: { id: "x" } });
    await expect(collect(client(agent), WINDOW)).rejects.toMatchObject({ errorClass: "fatal", message: expect.stringContaining("unexpected response shape at value") });
    await agent.close();
  });

  it("reports each request that reached Graph, answered or failed, and none that the gate or the token stopped", async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    const pool = agent.get("https://graph.microsoft.com");
    const match = { path: (path: string) => path.startsWith(MESSAGE_TRACES_PATH), method: "GET" };
    pool.intercept(match).reply(503, { error: { code: "ServiceUnavailable", message: "" } });
    pool.intercept(match).reply(429, { error: { code: "TooManyRequests", message: "" } }, { headers: { "retry-after": "1" } });
    pool.intercept(match).reply(200, { value: [] });
    const events: RequestEvent[] = [];
    let t = 0;
    // The gate's clock jumps over the Retry-After hold instead of waiting for it.
    const gate = new RequestGate({ now: () => t, sleep: async (ms) => void (t += ms) }, graphBudget);
    await collect(client(agent, { gate, maxTransientRetries: 1, maxThrottleRetries: 1, onRequest: (event) => events.push(event) }), WINDOW);
    const event = { tenantId: TENANT, stream: "MessageTrace", operation: "messageTraces" };
    expect(events).toEqual([
      { ...event, throttled: false },
      { ...event, throttled: true },
      { ...event, throttled: false },
    ]);

    // A tenant held longer than the caller may wait: refused at the gate, nothing sent; a token refused: nothing sent either.
    const held = new RequestGate({ now: () => 0, sleep: async () => {} }, graphBudget);
    held.hold(`graph:${TENANT}`, 60_000);
    events.length = 0;
    const refused = await collect(client(agent, { gate: held, maxGateWaitMs: 5_000, onRequest: (e) => events.push(e) }), WINDOW).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ errorClass: "throttled", status: undefined });
    const noToken = await collect(
      client(agent, {
        credentialFor: () => ({
          getToken: async () => {
            throw new Error("AADSTS7000215: Invalid client secret provided.");
          },
        }),
        onRequest: (e) => events.push(e),
      }),
      WINDOW,
    ).catch((error: unknown) => error);
    expect(noToken).toMatchObject({ errorClass: "configuration", code: "token" });
    expect(events).toEqual([]);
    await agent.close();
  });

  it("classes Graph's answers: the service-principal-less 401 apart from other 401/403, 400 as the window", () => {
    expect(classifyGraphError(401, "Service principal-less Authentication failed: …")).toEqual({ errorClass: "configuration", fix: SERVICE_PRINCIPAL_FIX });
    expect(classifyGraphError(401, "Access token validation failure. Invalid audience.")).toEqual({ errorClass: "configuration", fix: PERMISSION_FIX });
    expect(classifyGraphError(403, "Insufficient privileges to complete the operation.")).toEqual({ errorClass: "configuration", fix: PERMISSION_FIX });
    expect(classifyGraphError(400, "The time range must not exceed 10 days.")).toEqual({ errorClass: "badWindow" });
    expect(classifyGraphError(429, "")).toEqual({ errorClass: "throttled" });
    expect(classifyGraphError(503, "")).toEqual({ errorClass: "transient" });
    expect(classifyGraphError(404, "")).toEqual({ errorClass: "fatal" });
    expect(PERMISSION_FIX).toContain("ExchangeMessageTrace.Read.All");
  });
});

const WINDOW = { start: Date.parse("2026-11-20T10:00:00Z"), end: Date.parse("2026-11-20T11:00:00Z") };

/** A client of the mock dispatcher, with a token that is always there. */
function client(dispatcher: MockAgent, options: Partial<MessageTraceClientOptions> = {}): MessageTraceClient {
  return new MessageTraceClient({
    graphBaseUrl: "https://graph.microsoft.com",
    credentialFor: () => ({ getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + H }) }),
    dispatcher,
    timeoutMs: 1_000,
    gate: new RequestGate(undefined, graphBudget),
    maxThrottleRetries: 0,
    maxTransientRetries: 0,
    sleep: async () => {},
    ...options,
  });
}

async function collect(client: MessageTraceClient, window: { start: number; end: number }) {
  const pages = [];
  for await (const page of client.listMessageTraces(TENANT, window)) pages.push(page);
  return pages;
}
