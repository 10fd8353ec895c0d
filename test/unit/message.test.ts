import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { parseSettings } from "../../shared/config/settings.js";
import { RequestGate } from "../../shared/http/gate.js";
import { type ItemCheck, parseWorkMessage, toMessage, type WorkMessage } from "../../shared/pipeline/message.js";
import type { QueueClient } from "@azure/storage-queue";
import { decodeMessage, encodeMessage, WorkQueue } from "../../shared/pipeline/workQueue.js";
import { unknownFeedReason } from "../../shared/runtime.js";
import { o365AuditSource } from "../../shared/sources/o365-audit/source.js";
import type { SourceSession } from "../../shared/sources/source.js";
import { auditConfig } from "../helpers/simulator.js";

const API = "https://manage.office.com";
const T = "11111111-1111-4111-8111-111111111111";
const CONTENT_ID = "20150101$x$audit_sharepoint$Audit_SharePoint$na0031";
const valid = {
  v: 2,
  source: "o365-audit",
  tenantId: T,
  stream: "Audit.SharePoint",
  workId: CONTENT_ID,
  created: "2026-01-01T00:00:00.000Z",
  expires: "2026-01-08T00:00:00.000Z",
  item: { contentUri: `${API}/api/v1.0/${T}/activity/feed/audit/${CONTENT_ID}` },
};

/** The audit feed opened with default settings (manage.office.com); opening makes no request. */
const dispatcher = new Agent();
let audit: SourceSession<{ contentUri: string }>;
beforeAll(async () => {
  const settings = parseSettings({ O365_TENANT_IDS: T, O365_CLIENT_ID: "22222222-2222-4222-8222-222222222222", O365_CLIENT_SECRET: "x", DataStorage: "UseDevelopmentStorage=true" });
  audit = await o365AuditSource.open(auditConfig(settings), {
    dispatcher,
    gate: new RequestGate(),
    requestTimeoutMs: 1_000,
    onRequest: () => {},
    now: Date.now,
    namespace: "default",
    userAgent: "test",
  });
});
afterAll(() => dispatcher.close());

/** A test feed with a nested item, to show how the item's path is named. */
const windowFeed: ItemCheck = {
  item: z.strictObject({ window: z.strictObject({ start: z.iso.datetime(), end: z.iso.datetime() }) }),
  refuse: () => undefined,
};

/** What the runtime answers: the feeds enabled here by name; any other name is unknown or switched off. */
function feedsEnabled(enabled: Record<string, ItemCheck>) {
  return (name: string): ItemCheck | string => enabled[name] ?? unknownFeedReason(name, Object.keys(enabled));
}
const feedOf = (name: string) => feedsEnabled({ "o365-audit": { item: o365AuditSource.item, refuse: (work) => audit.refuse(work as never) }, "window-feed": windowFeed })(name);

describe("work queue message (envelope v2)", () => {
  it("accepts a valid message as an object, a JSON string or bytes, defaulting the throttle count", () => {
    for (const payload of [valid, JSON.stringify(valid), Buffer.from(JSON.stringify(valid))]) {
      const parsed = parseWorkMessage(payload, feedOf);
      expect(parsed).toEqual({ ok: true, message: { ...valid, throttled: 0 } });
    }
  });

  it("lowercases the tenant id", () => {
    const parsed = parseWorkMessage({ ...valid, tenantId: T.toUpperCase() }, feedOf);
    expect(parsed).toMatchObject({ ok: true, message: { tenantId: T } });
  });

  it("round-trips through the queue's base64 encoding", () => {
    const message = { ...valid, v: 2 as const, throttled: 2 };
    expect(parseWorkMessage(decodeMessage(encodeMessage(message)), feedOf)).toEqual({ ok: true, message });
  });

  it("is what toMessage makes of a feed's work item, without expires when the work has none", () => {
    const { v: _v, source: _s, ...work } = valid;
    expect(toMessage("o365-audit", work)).toEqual({ ...valid, throttled: 0 });
    const window = { tenantId: T, stream: "Window", workId: "w1", created: valid.created, item: { window: { start: valid.created, end: valid.expires } } };
    const message = toMessage("window-feed", window);
    expect(message).not.toHaveProperty("expires");
    expect(parseWorkMessage(JSON.stringify(message), feedOf)).toEqual({ ok: true, message });
  });

  it.each([
    ["{not json", /message is not JSON/],
    [{ ...valid, v: 1 }, /v: unsupported message version \(expected v: 2\)/],
    [{ ...valid, source: undefined }, /source/],
    [{ ...valid, tenantId: "../x" }, /tenantId: expected a tenant id/],
    [{ ...valid, stream: "Audit/All" }, /stream: expected a stream name/],
    [{ ...valid, workId: "../../x" }, /workId/],
    [{ ...valid, created: "yesterday" }, /created: expected an ISO 8601 date-time/],
    [{ ...valid, expires: "next week" }, /expires: expected an ISO 8601 date-time/],
    [{ ...valid, extra: 1 }, /extra/],
  ])("rejects the envelope %j with a reason that names the problem", (payload, reason) => {
    const parsed = parseWorkMessage(payload, feedOf);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });

  describe("its feed", () => {
    it("rejects a message of an unknown feed, naming it and the known ones", () => {
      expect(parseWorkMessage({ ...valid, source: "sophos-central" }, feedOf)).toMatchObject({ ok: false, reason: expect.stringMatching(/^source: unknown feed sophos-central \(known: .*o365-audit/) });
    });

    it("rejects a message of a known feed that is not enabled here, naming it", () => {
      const auditOff = feedsEnabled({});
      expect(parseWorkMessage(valid, auditOff)).toMatchObject({ ok: false, reason: "source: feed o365-audit is not enabled here (enabled: none)" });
    });

    it.each([
      [{ ...valid, item: {} }, /^item\.contentUri: /],
      [{ ...valid, item: { contentUri: 42 } }, /^item\.contentUri: /],
      [{ ...valid, item: { contentUri: "not a url" } }, /^item\.contentUri: /],
      [{ ...valid, item: undefined }, /^item: /],
      [{ ...valid, item: { ...valid.item, more: 1 } }, /^item: .*more/],
    ])("rejects an item its feed's schema refuses, naming the item's path: %j", (payload, reason) => {
      const parsed = parseWorkMessage(payload, feedOf);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.reason).toMatch(reason);
    });

    it("names a nested path of the item", () => {
      const message = { ...valid, source: "window-feed", item: { window: { start: valid.created, end: "soon" } } };
      expect(parseWorkMessage(message, feedOf)).toMatchObject({ ok: false, reason: expect.stringMatching(/^item\.window\.end: /) });
    });

    it("asks the feed's refuse only once the item has passed its schema, with the whole work", () => {
      const seen: unknown[] = [];
      const picky = feedsEnabled({ "o365-audit": { item: o365AuditSource.item, refuse: (work) => (seen.push(work), "no thanks") } });
      expect(parseWorkMessage({ ...valid, item: {} }, picky).ok).toBe(false);
      expect(seen).toEqual([]);
      expect(parseWorkMessage(valid, picky)).toMatchObject({ ok: false, reason: "no thanks" });
      expect(seen).toEqual([{ ...valid, throttled: 0 }]);
    });
  });

  describe("the audit feed's refusals", () => {
    const uri = (path: string) => ({ ...valid, item: { contentUri: path } });
    it.each([
      [uri("https://evil.example/x"), /^item\.contentUri: untrusted URL: host evil\.example/],
      [uri(`http://manage.office.com/api/v1.0/${T}/activity/feed/audit/x`), /^item\.contentUri: untrusted URL: scheme http: is not https/],
      [uri(`https://manage.office.com/api/v1.0/${T}/activity/feed/audit%2f..%2fx`), /^item\.contentUri: untrusted URL: encoded separators/],
      [uri(`https://user:pw@manage.office.com/api/v1.0/${T}/activity/feed/audit/x`), /^item\.contentUri: untrusted URL: credentials in URL/],
      [{ ...valid, tenantId: "22222222-2222-4222-8222-222222222222" }, /^item\.contentUri: untrusted URL: path is not under the feed of tenant 22222222/],
      [{ ...valid, tenantId: "abc" }, /^tenantId: expected a tenant GUID/],
      [{ ...valid, expires: undefined }, /^expires: required/],
      [{ ...valid, stream: "Audit.All" }, /^stream: Audit\.All is not a content type of the Management Activity API/],
      [{ ...valid, stream: "MessageTrace" }, /^stream: MessageTrace is not a content type/],
    ])("refuses %j with a reason that names the problem", (payload, reason) => {
      const parsed = parseWorkMessage(payload, feedOf);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.reason).toMatch(reason);
    });

    it.each(["abc", "common"])("refuses the tenant id %s, not a GUID, even when its URL agrees", (tenantId) => {
      const message = { ...valid, tenantId, item: { contentUri: `${API}/api/v1.0/${tenantId}/activity/feed/audit/${CONTENT_ID}` } };
      expect(parseWorkMessage(message, feedOf)).toMatchObject({ ok: false, reason: expect.stringMatching(/^tenantId: /) });
    });

    it("accepts each content type as the stream", () => {
      for (const stream of ["Audit.AzureActiveDirectory", "Audit.Exchange", "Audit.SharePoint", "Audit.General", "DLP.All"]) {
        expect(parseWorkMessage({ ...valid, stream }, feedOf).ok).toBe(true);
      }
    });
  });
});

describe("the work queue", () => {
  it("sends messages that never expire on the queue (work may wait longer than its 7-day default), with whole-second delays", async () => {
    const calls: unknown[] = [];
    const queue = new WorkQueue({ sendMessage: async (_text: string, options: unknown) => void calls.push(options) } as unknown as QueueClient);
    const sample: WorkMessage = { v: 2, source: "x", tenantId: "t", stream: "s", workId: "w", created: "2026-01-01T00:00:00.000Z", throttled: 0, item: {} };
    await queue.send(sample, 2_500);
    await queue.send(sample);
    expect(calls).toEqual([{ messageTimeToLive: -1, visibilityTimeout: 3 }, { messageTimeToLive: -1 }]);
  });
});
