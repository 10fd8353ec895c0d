import { MockAgent } from "undici";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ApiError, UntrustedUrlError } from "../../shared/http/errors.js";
import { RequestGate } from "../../shared/http/gate.js";
import { GRAPH_MESSAGE_TRACE_BUDGET, PERMISSION_FIX } from "../../shared/sources/message-trace/client.js";
import { messageTraceRecordKey } from "../../shared/sources/message-trace/recordKey.js";
import { GRAPH_GLOBAL_BASE_URL, messageTraceProblems, messageTraceSettings, readMessageTrace } from "../../shared/sources/message-trace/settings.js";
import { type MessageTraceItem, messageTraceSource } from "../../shared/sources/message-trace/source.js";
import type { SourceSession, Work } from "../../shared/sources/source.js";
import { silentLogger } from "../../shared/util/log.js";

const M = 60_000;
const H = 60 * M;
const DAY = 24 * H;
const NOW = Date.parse("2026-11-28T12:00:00Z");
const TENANT_A = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const TENANT_B = "1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e";
const CLIENT_ID = "5a0c3e71-2d9b-4c8f-a6e4-1f7b3d9c0e52";

const schema = z.object(messageTraceSettings);
const label = (name: string) => name;
const ENTRA = { O365_TENANT_IDS: `${TENANT_A},${TENANT_B}`, O365_CLIENT_ID: CLIENT_ID, O365_CLIENT_SECRET: "s" };

function configOf(env: Record<string, string> = {}) {
  return readMessageTrace(schema.parse({ ...ENTRA, MESSAGE_TRACE_ENABLED: "true", ...env }));
}

async function open(env: Record<string, string> = {}): Promise<SourceSession<MessageTraceItem>> {
  return messageTraceSource.open(configOf(env), {
    dispatcher: new MockAgent(),
    gate: new RequestGate(),
    requestTimeoutMs: 1_000,
    onRequest: () => {},
    now: () => NOW,
    namespace: "default",
    userAgent: "audit-intake-test",
  });
}

async function workOf(session: SourceSession<MessageTraceItem>, tenantId: string, window: { start: number; end: number }): Promise<Work<MessageTraceItem>[]> {
  const pages: Work<MessageTraceItem>[][] = [];
  for await (const page of session.list({ tenantId, stream: "MessageTrace" }, window, silentLogger)) pages.push(page);
  expect(pages).toHaveLength(1);
  return pages[0]!;
}

describe("message-trace settings slice", () => {
  it("defaults: off, every 5 minutes, 5 m behind now, 1 h overlap, 1 d first reach, 1 h windows, Graph's global origin, pages of 5000", () => {
    const config = readMessageTrace(schema.parse({}));
    expect(config).toMatchObject({
      enabled: false,
      schedule: "0 */5 * * * *",
      delayMs: 5 * M,
      overlapMs: H,
      initialLookbackMs: DAY,
      windowMs: H,
      localDomains: [],
      graphBaseUrl: GRAPH_GLOBAL_BASE_URL,
      pageSize: 5000,
    });
    expect(messageTraceSource.enabled(config)).toBe(false);
    expect(messageTraceSource.schedule(config)).toBe("0 */5 * * * *");
  });

  it("reads its values, with the Entra slice beside them", () => {
    const config = configOf({
      MESSAGE_TRACE_WINDOW: "10d",
      MESSAGE_TRACE_LOCAL_DOMAINS: "Contoso.com, contoso.com,fabrikam.net",
      MESSAGE_TRACE_GRAPH_BASE_URL: "https://127.0.0.1:8443/",
      MESSAGE_TRACE_PAGE_SIZE: "50",
      O365_TENANT_NAMES: `${TENANT_A}=contoso.onmicrosoft.com`,
    });
    expect(config).toMatchObject({ enabled: true, windowMs: 10 * DAY, localDomains: ["contoso.com", "fabrikam.net"], graphBaseUrl: "https://127.0.0.1:8443", pageSize: 50 });
    expect(config.entra.tenantIds).toEqual([TENANT_A, TENANT_B]);
    expect(config.entra.tenantNames.get(TENANT_A)).toBe("contoso.onmicrosoft.com");
  });

  it.each([
    ["MESSAGE_TRACE_ENABLED", "yes"],
    ["MESSAGE_TRACE_SCHEDULE", "*/5 * * * *"],
    ["MESSAGE_TRACE_DELAY", "five minutes"],
    ["MESSAGE_TRACE_INITIAL_LOOKBACK", "30s"],
    ["MESSAGE_TRACE_INITIAL_LOOKBACK", "91d"],
    ["MESSAGE_TRACE_WINDOW", "30s"],
    ["MESSAGE_TRACE_WINDOW", "10d1s"],
    ["MESSAGE_TRACE_LOCAL_DOMAINS", "contoso.com,not a domain"],
    ["MESSAGE_TRACE_GRAPH_BASE_URL", "http://graph.microsoft.com"],
    ["MESSAGE_TRACE_PAGE_SIZE", "5001"],
    ["MESSAGE_TRACE_PAGE_SIZE", "0"],
  ])("refuses %s=%s", (name, value) => {
    const parsed = schema.safeParse({ [name]: value });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.path[0])).toEqual([name]);
  });
});

describe("message-trace settings problems", () => {
  const enabled = { ...ENTRA, MESSAGE_TRACE_ENABLED: "true" };

  it.each([
    ["off (the default), whatever else is missing", {}],
    ["off, even in a cloud without message trace", { MESSAGE_TRACE_ENABLED: "false", O365_CLOUD: "gcc-high" }],
    ["on, in the commercial cloud (the default)", enabled],
    ["on, in GCC (which uses Graph's worldwide endpoint)", { ...enabled, O365_CLOUD: "gcc" }],
  ])("none when %s", (_name, env) => {
    expect(messageTraceProblems(env, label)).toEqual([]);
  });

  it("wants the app registration while on", () => {
    const settings = messageTraceProblems({ MESSAGE_TRACE_ENABLED: " TRUE " }, label).map((p) => p.setting);
    expect(settings).toEqual(["O365_TENANT_IDS", "O365_CLIENT_ID", "O365_CLIENT_SECRET"]);
  });

  it.each(["gcc-high", "dod"])("refuses O365_CLOUD=%s while on: Graph message trace exists in the global service only", (cloud) => {
    const problems = messageTraceProblems({ ...enabled, O365_CLOUD: cloud }, (name) => `«${name}»`);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.setting).toBe("O365_CLOUD");
    expect(problems[0]!.message).toContain("global service only");
    expect(problems[0]!.message).toContain("«O365_CLOUD» commercial or gcc");
    expect(problems[0]!.message).toContain(`not in ${cloud}`);
    expect(problems[0]!.message).toContain("«MESSAGE_TRACE_ENABLED»");
  });
});

describe("message-trace source", () => {
  it("names its feed, data stream, timer setting and Graph's budget", () => {
    expect(messageTraceSource.name).toBe("message-trace");
    expect(messageTraceSource.dataset).toBe("microsoft_exchange_online_message_trace.log");
    expect(messageTraceSource.scheduleSetting).toBe("MESSAGE_TRACE_SCHEDULE");
    expect(Object.keys(messageTraceSource.settings)).toContain("MESSAGE_TRACE_SCHEDULE");
    expect(messageTraceSource.requestBudget?.(`graph:${TENANT_A}`)).toEqual(GRAPH_MESSAGE_TRACE_BUDGET);
    expect(messageTraceSource.requestBudget?.(`o365:${TENANT_A}`)).toBeUndefined();
  });

  it.each([
    ["a window", { start: "2026-11-28T10:00:00.000Z", end: "2026-11-28T11:00:00.000Z" }, true],
    ["a window of exactly 10 days", { start: "2026-11-18T10:00:00Z", end: "2026-11-28T10:00:00Z" }, true],
    ["a window over 10 days", { start: "2026-11-18T10:00:00Z", end: "2026-11-28T10:00:01Z" }, false],
    ["an empty window", { start: "2026-11-28T10:00:00Z", end: "2026-11-28T10:00:00Z" }, false],
    ["a reversed window", { start: "2026-11-28T11:00:00Z", end: "2026-11-28T10:00:00Z" }, false],
    ["a time that is not ISO", { start: "28/11/2026 10:00", end: "2026-11-28T11:00:00Z" }, false],
    ["an unknown field", { start: "2026-11-28T10:00:00Z", end: "2026-11-28T11:00:00Z", url: "https://attacker.example" }, false],
    ["a missing end", { start: "2026-11-28T10:00:00Z" }, false],
  ])("item schema: %s → %s", (_name, item, valid) => {
    expect(messageTraceSource.item.safeParse(item).success).toBe(valid);
  });

  it("collects one MessageTrace stream per tenant", async () => {
    const session = await open();
    expect(session.streams()).toEqual([
      { tenantId: TENANT_A, stream: "MessageTrace" },
      { tenantId: TENANT_B, stream: "MessageTrace" },
    ]);
  });

  it("plans from its settings", async () => {
    const session = await open({ MESSAGE_TRACE_WINDOW: "30m", MESSAGE_TRACE_DELAY: "10m" });
    const { windows } = session.plan({ tenantId: TENANT_A, stream: "MessageTrace" }, NOW - 20 * M, NOW);
    expect(windows).toEqual([
      { start: NOW - 80 * M, end: NOW - 50 * M },
      { start: NOW - 50 * M, end: NOW - 20 * M },
      { start: NOW - 20 * M, end: NOW - 10 * M },
    ]);
  });

  it("lists a window as one work item, named by the window alone, that passes its own item schema", async () => {
    const session = await open();
    const window = { start: Date.parse("2026-11-28T10:00:00Z"), end: Date.parse("2026-11-28T11:00:00Z") };
    const [work] = await workOf(session, TENANT_A, window);
    expect(work).toEqual({
      tenantId: TENANT_A,
      stream: "MessageTrace",
      workId: "20261128T100000Z-20261128T110000Z",
      created: "2026-11-28T10:00:00.000Z",
      expires: "2027-02-26T10:00:00.000Z", // 90 days: Graph keeps no older rows
      item: { start: "2026-11-28T10:00:00.000Z", end: "2026-11-28T11:00:00.000Z" },
    });
    expect(await workOf(await open(), TENANT_A, window)).toEqual([work]);
    expect(messageTraceSource.item.parse(work!.item)).toEqual(work!.item);
    const [odd] = await workOf(session, TENANT_A, { start: window.start + 250, end: window.end });
    expect(odd!.workId).toBe("20261128T100000.250Z-20261128T110000Z");
    expect(odd!.workId).toMatch(/^[0-9TZ.-]+$/);
  });

  it.each([
    ["a window of an hour ago", NOW - 2 * H, false],
    ["a window starting just inside Graph's 90 days", NOW - 90 * DAY + M, false],
    ["a window starting past Graph's 90 days", NOW - 90 * DAY - M, true],
  ])("expires a window when Graph no longer keeps its start: %s", async (_name, start, expired) => {
    const session = await open();
    const [work] = await workOf(session, TENANT_A, { start, end: start + H });
    // The worker records an item past its expiry as expired (lost at the source), instead of asking Graph.
    expect(Date.parse(work!.expires as string) <= NOW).toBe(expired);
    expect(session.refuse(work!)).toBeUndefined();
  });
});

describe("message-trace record keys", () => {
  const row = { id: "4c2b3e7a-51f0-4d8e-9a41-08de2f1c0a11", recipientAddress: "Megan@contoso.com", status: "delivered", receivedDateTime: "2026-11-28T10:06:07.1234567Z" };

  it("keys a row by message, recipient (as Graph wrote it) and status, in the hour it was received", () => {
    expect(messageTraceRecordKey(row, NOW)).toEqual({ recordId: `${row.id}|Megan@contoso.com|delivered`, hour: "2026-11-28T10" });
  });

  it("gives a repeated row the same key and a status change a new one", () => {
    expect(messageTraceRecordKey({ ...row, subject: "again" }, NOW)).toEqual(messageTraceRecordKey(row, NOW));
    expect(messageTraceRecordKey({ ...row, status: "pending" }, NOW)?.recordId).not.toBe(messageTraceRecordKey(row, NOW)?.recordId);
  });

  it.each([
    ["without an id", { ...row, id: undefined }],
    ["with an empty recipient", { ...row, recipientAddress: "" }],
    ["with a status that is not text", { ...row, status: 3 }],
    ["without its received time", { ...row, receivedDateTime: undefined }],
    ["received before the claims' retention", { ...row, receivedDateTime: "2026-10-01T10:00:00Z" }],
    ["not an object", "row"],
  ])("claims no row %s", (_name, candidate) => {
    expect(messageTraceRecordKey(candidate, NOW)).toBeUndefined();
  });

  it("is the session's recordKey", async () => {
    expect((await open()).recordKey(row, NOW)).toEqual(messageTraceRecordKey(row, NOW));
  });
});

describe("message-trace documents", () => {
  const outbound = {
    id: "4c2b3e7a-51f0-4d8e-9a41-08de2f1c0a11",
    senderAddress: "megan@contoso.onmicrosoft.com",
    recipientAddress: "sam@partner.example",
    status: "delivered",
    receivedDateTime: "2026-11-28T10:06:07Z",
  };
  const direction = (line: string) => (JSON.parse(line) as { email: { direction?: string } }).email.direction;

  it("counts each tenant's own domain as local to that tenant only, beside MESSAGE_TRACE_LOCAL_DOMAINS", async () => {
    const session = await open({ O365_TENANT_NAMES: `${TENANT_A}=contoso.onmicrosoft.com`, MESSAGE_TRACE_LOCAL_DOMAINS: "partner.example" });
    const [a] = await workOf(session, TENANT_A, { start: NOW - 2 * H, end: NOW - H });
    const [b] = await workOf(session, TENANT_B, { start: NOW - 2 * H, end: NOW - H });
    expect(direction(session.toLine(outbound, a!).line)).toBe("internal");
    expect(direction(session.toLine(outbound, b!).line)).toBe("inbound");
  });

  it("writes the data stream of the session's namespace, and a row it cannot map as a pipeline_error document", async () => {
    const session = await open();
    const [work] = await workOf(session, TENANT_A, { start: NOW - 2 * H, end: NOW - H });
    const good = session.toLine(outbound, work!);
    expect(good.pipelineError).toBe(false);
    expect(JSON.parse(good.line).data_stream).toEqual({ type: "logs", dataset: "microsoft_exchange_online_message_trace.log", namespace: "default" });
    const bad = session.toLine(42, work!);
    expect(bad.pipelineError).toBe(true);
    expect(JSON.parse(bad.line).event).toMatchObject({ kind: "pipeline_error", dataset: "microsoft_exchange_online_message_trace.log" });
  });
});

describe("message-trace failures", () => {
  const api = (errorClass: ApiError["errorClass"], status: number | undefined, code: string | undefined, fix?: string, retryAfterMs?: number) =>
    new ApiError(errorClass, status, code, "messageTraces: …", fix, retryAfterMs);

  it.each([
    ["a 429 with Retry-After", api("throttled", 429, "TooManyRequests", undefined, 30_000), { errorClass: "throttled", code: "TooManyRequests", retryAfterMs: 30_000, sent: true }],
    ["a refusal at the tenant's gate", api("throttled", undefined, undefined, undefined, 12_000), { errorClass: "throttled", code: undefined, retryAfterMs: 12_000, sent: false }],
    ["a 400 for the window", api("badWindow", 400, "BadRequest"), { errorClass: "badWindow", code: "BadRequest", sent: true }],
    ["a 403 with its fix", api("configuration", 403, "Forbidden", PERMISSION_FIX), { errorClass: "configuration", code: "Forbidden", fix: PERMISSION_FIX, sent: true }],
    ["a refused token", api("configuration", 400, "token"), { errorClass: "configuration", code: "token", sent: true }],
    ["a 503 without a code", api("transient", 503, undefined), { errorClass: "transient", code: "503", sent: true }],
    ["a network error", api("transient", undefined, "ECONNRESET"), { errorClass: "transient", code: "ECONNRESET", sent: false }],
    ["a 404", api("fatal", 404, undefined), { errorClass: "fatal", code: "404", sent: true }],
  ])("reads %s", async (_name, error, expected) => {
    const failure = (await open()).failure(error);
    expect(failure).toMatchObject(expected);
    expect(failure?.fix).toMatch(/\w/);
  });

  it("gives the class's own fix when Graph's answer came without one", async () => {
    const session = await open();
    expect(session.failure(api("configuration", 401, "InvalidAuthenticationToken"))?.fix).toContain("ExchangeMessageTrace.Read.All");
    expect(session.failure(api("fatal", 404, undefined))?.fix).toContain("report it");
  });

  it("reads a nextLink off Graph as fatal, and leaves errors it does not know to the queue", async () => {
    const session = await open();
    expect(session.failure(new UntrustedUrlError("host attacker.example is not the Graph host graph.microsoft.com"))).toMatchObject({ errorClass: "fatal", sent: false });
    expect(session.failure(new Error("boom"))).toBeUndefined();
  });
});
