import type { TokenCredential } from "@azure/identity";
import { MockAgent } from "undici";
import { describe, expect, it } from "vitest";
import { RequestGate } from "../../shared/http/gate.js";
import { classifyGraphError, graphBudget, MESSAGE_TRACES_PATH, MessageTraceClient, PERMISSION_FIX, SERVICE_PRINCIPAL_FIX } from "../../shared/sources/message-trace/client.js";

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

async function collect(client: MessageTraceClient, window: { start: number; end: number }) {
  const pages = [];
  for await (const page of client.listMessageTraces(TENANT, window)) pages.push(page);
  return pages;
}
