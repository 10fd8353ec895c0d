import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { sophosXdrSource } from "../../shared/sources/sophos-xdr/source.js";
import { readAppQueueSemantics, readQueueSemantics } from "../../shared/config/hostJson.js";
import { parseSettings } from "../../shared/config/settings.js";
import { RequestGate } from "../../shared/http/gate.js";
import type { ItemCheck, WorkMessage } from "../../shared/pipeline/message.js";
import { markIfLastAttempt, redrivePoison, type RedriveDeps } from "../../shared/pipeline/poison.js";
import { encodeMessage } from "../../shared/pipeline/workQueue.js";
import { unknownFeedReason } from "../../shared/runtime.js";
import { o365AuditSource } from "../../shared/sources/o365-audit/source.js";
import type { SourceSession } from "../../shared/sources/source.js";
import type { LedgerKeys } from "../../shared/state/ledger.js";
import { recordingLogger } from "../helpers/harness.js";
import { auditConfig } from "../helpers/simulator.js";

const API = "https://manage.office.com";
const A = "11111111-1111-4111-8111-111111111111";
const B = "22222222-2222-4222-8222-222222222222";

type AuditMessage = WorkMessage<{ contentUri: string }>;

function message(tenantId: string, n: number, overrides: Partial<AuditMessage> = {}): AuditMessage {
  const workId = `20260101$${n}$audit_sharepoint$Audit_SharePoint$na0031`;
  return {
    v: 2,
    source: "o365-audit",
    tenantId,
    stream: "Audit.SharePoint",
    workId,
    created: "2026-01-01T00:00:00.000Z",
    expires: "2026-01-08T00:00:00.000Z",
    throttled: 0,
    item: { contentUri: `${API}/api/v1.0/${tenantId}/activity/feed/audit/${workId}` },
    ...overrides,
  };
}

/** A message of another feed, with an item of its own: a time window and no expiration. */
function windowMessage(tenantId: string, n: number): WorkMessage {
  return { v: 2, source: "window-feed", tenantId, stream: "Window", workId: `w${n}`, created: "2026-01-01T00:00:00.000Z", throttled: 0, item: { start: "2026-01-01T00:00:00.000Z", end: "2026-01-01T01:00:00.000Z" } };
}

/** The audit feed opened with default settings (manage.office.com) and tenants A and B; opening makes no request. */
const dispatcher = new Agent();
let audit: SourceSession<{ contentUri: string }>;
beforeAll(async () => {
  const settings = parseSettings({ O365_TENANT_IDS: `${A},${B}`, O365_CLIENT_ID: "33333333-3333-4333-8333-333333333333", O365_CLIENT_SECRET: "x", DataStorage: "UseDevelopmentStorage=true" });
  audit = await o365AuditSource.open(auditConfig(settings), { dispatcher, gate: new RequestGate(), requestTimeoutMs: 1_000, onRequest: () => {}, now: Date.now, namespace: "default", userAgent: "test" });
});
afterAll(() => dispatcher.close());

/** As the runtime answers it: the feeds enabled here, and the reason for any other name. */
function feedsEnabled(names: string[]) {
  const checks: Record<string, ItemCheck> = {
    "o365-audit": { item: o365AuditSource.item, refuse: (work) => audit.refuse(work as never) },
    "window-feed": { item: z.strictObject({ start: z.iso.datetime(), end: z.iso.datetime() }), refuse: () => undefined },
  };
  return (name: string): ItemCheck | string => (names.includes(name) && checks[name]) || unknownFeedReason(name, names);
}

/** An in-memory queue with the service's visibility and pop-receipt rules, and a log of every call. */
function fakeQueue(texts: string[]) {
  let receipts = 0;
  const messages = texts.map((text, i) => ({ id: `m${i}`, text, popReceipt: "", visible: true }));
  const calls: string[] = [];
  const queue = {
    messages,
    calls,
    async receiveMessages(options?: { numberOfMessages?: number }) {
      const taken = messages.filter((m) => m.visible).slice(0, options?.numberOfMessages ?? 1);
      for (const m of taken) {
        m.visible = false;
        m.popReceipt = `r${(receipts += 1)}`;
      }
      return { receivedMessageItems: taken.map((m) => ({ messageId: m.id, messageText: m.text, popReceipt: m.popReceipt })) };
    },
    async deleteMessage(id: string, popReceipt: string) {
      calls.push(`delete ${id}`);
      const index = messages.findIndex((m) => m.id === id && m.popReceipt === popReceipt);
      if (index < 0) throw Object.assign(new Error("pop receipt mismatch"), { statusCode: 404 });
      messages.splice(index, 1);
    },
    async updateMessage(id: string, popReceipt: string, _text: string | undefined, visibilityTimeout: number) {
      const found = messages.find((m) => m.id === id && m.popReceipt === popReceipt);
      if (!found) throw Object.assign(new Error("pop receipt mismatch"), { statusCode: 404 });
      found.visible = visibilityTimeout === 0;
    },
  };
  return queue;
}

function deps(queue: ReturnType<typeof fakeQueue>, overrides: Partial<RedriveDeps> = {}) {
  const sent: WorkMessage[] = [];
  const redriven: string[] = [];
  const ledgered: LedgerKeys[] = [];
  const d: RedriveDeps = {
    poison: queue as unknown as RedriveDeps["poison"],
    send: async (m) => {
      queue.calls.push(`send ${m.workId}`);
      sent.push(m);
    },
    ledger: {
      markRedriven: async (entry) => {
        queue.calls.push(`ledger ${entry.workId}`);
        redriven.push(entry.workId);
        ledgered.push(entry);
        return true;
      },
    },
    feedOf: feedsEnabled(["o365-audit", "window-feed"]),
    now: () => 1,
    ...overrides,
  };
  return { d, sent, redriven, ledgered };
}

describe("marking the ledger row of a message on its last attempt", () => {
  const ledgerCalls = () => {
    const calls: { entry: LedgerKeys; error: string }[] = [];
    return { calls, ledger: { markPoisoned: async (entry: LedgerKeys, error: string) => (calls.push({ entry, error }), true) } };
  };

  it("marks only when the dequeue count has reached maxDequeueCount", async () => {
    const { calls, ledger } = ledgerCalls();
    const log = recordingLogger();
    for (const dequeueCount of [undefined, 1, 4, 5, 6]) {
      await markIfLastAttempt(message(A, dequeueCount ?? 0), new Error(`fail ${dequeueCount}`), { dequeueCount, maxDequeueCount: 5 }, { ledger, log, now: () => 1 });
    }
    expect(calls.map((c) => c.error)).toEqual(["fail 5", "fail 6"]);
  });

  it("marks the row by feed, tenant, stream and work id, with the work's times", async () => {
    const { calls, ledger } = ledgerCalls();
    const log = recordingLogger();
    const attempt = { dequeueCount: 5, maxDequeueCount: 5 };
    await markIfLastAttempt(message(A, 1), new Error("boom"), attempt, { ledger, log, now: () => 1 });
    await markIfLastAttempt(windowMessage(B, 2), "gone", attempt, { ledger, log, now: () => 1 });
    expect(calls).toEqual([
      {
        entry: { source: "o365-audit", tenantId: A, stream: "Audit.SharePoint", workId: message(A, 1).workId, created: new Date("2026-01-01T00:00:00.000Z"), expires: new Date("2026-01-08T00:00:00.000Z") },
        error: "boom",
      },
      { entry: { source: "window-feed", tenantId: B, stream: "Window", workId: "w2", created: new Date("2026-01-01T00:00:00.000Z") }, error: "gone" },
    ]);
    expect(log.lines.filter((l) => l.level === "error").map((l) => l.properties)).toEqual([
      expect.objectContaining({ source: "o365-audit", tenantId: A, stream: "Audit.SharePoint", workId: message(A, 1).workId }),
      expect.objectContaining({ source: "window-feed", tenantId: B, stream: "Window", workId: "w2" }),
    ]);
  });

  it("only warns when the ledger cannot be written: the processing error is what the caller rethrows", async () => {
    const log = recordingLogger();
    const ledger = { markPoisoned: async () => Promise.reject(new Error("table down")) };
    await expect(markIfLastAttempt(message(A, 1), new Error("boom"), { dequeueCount: 5, maxDequeueCount: 5 }, { ledger, log, now: () => 1 })).resolves.toBeUndefined();
    expect(log.lines).toEqual([expect.objectContaining({ level: "warn", message: "could not mark the ledger row poisoned" })]);
  });

  it("reads maxDequeueCount from the app's own host.json, found from the module", async () => {
    // The whole semantics, not only maxDequeueCount: the defaults share its 5, but not its 30 s visibility timeout.
    const hostJson = await readQueueSemantics(new URL("../../host.json", import.meta.url).pathname);
    expect(hostJson.visibilityTimeoutMs).toBe(30_000);
    expect(await readAppQueueSemantics()).toEqual(hostJson);
  });
});

describe("redrivePoison", () => {
  it("sends a matching message back with its throttle count reset, then marks the row, then deletes it", async () => {
    const queue = fakeQueue([encodeMessage(message(A, 1, { throttled: 7 }))]);
    const { d, sent } = deps(queue);
    const report = await redrivePoison({}, d);
    expect(sent).toEqual([message(A, 1, { throttled: 0 })]);
    expect(queue.calls).toEqual([`send ${message(A, 1).workId}`, `ledger ${message(A, 1).workId}`, "delete m0"]);
    expect(queue.messages).toEqual([]);
    expect(report.totals).toEqual({ redriven: 1, left: 0, invalid: 0 });
  });

  it("leaves other tenants' and invalid messages in the queue, visible again, and counts each once across batches", async () => {
    const texts = [
      ...Array.from({ length: 40 }, (_, i) => encodeMessage(message(i % 2 === 0 ? A : B, i))),
      Buffer.from("not json").toString("base64"),
      Buffer.from(JSON.stringify({ ...message(A, 99), item: { contentUri: "https://evil.example/x" } })).toString("base64"),
    ];
    const queue = fakeQueue(texts);
    const { d, sent, redriven } = deps(queue);
    const report = await redrivePoison({ tenantId: A.toUpperCase() }, d);
    expect(sent.map((m) => m.tenantId)).toEqual(Array(20).fill(A));
    expect(redriven).toHaveLength(20);
    expect(report.streams).toEqual([
      { source: "o365-audit", tenantId: A, stream: "Audit.SharePoint", redriven: 20, left: 0 },
      { source: "o365-audit", tenantId: B, stream: "Audit.SharePoint", redriven: 0, left: 20 },
    ]);
    expect(report.invalid.map((i) => i.reason)).toEqual([expect.stringMatching(/not JSON/), expect.stringMatching(/^item\.contentUri:/)]);
    expect(report.totals).toEqual({ redriven: 20, left: 20, invalid: 2 });
    expect(queue.messages).toHaveLength(22);
    expect(queue.messages.every((m) => m.visible)).toBe(true);
  });

  it("filters by stream too, and a dry run moves nothing", async () => {
    const dlp = message(A, 2, { stream: "DLP.All", item: { contentUri: `${API}/api/v1.0/${A}/activity/feed/audit/dlp-2` }, workId: "dlp-2" });
    const queue = fakeQueue([encodeMessage(message(A, 1)), encodeMessage(dlp)]);
    const { d, sent } = deps(queue, { dryRun: true });
    const report = await redrivePoison({ stream: "DLP.All" }, d);
    expect(report).toMatchObject({ dryRun: true, totals: { redriven: 1, left: 1, invalid: 0 } });
    expect(sent).toEqual([]);
    expect(queue.calls).toEqual([]);
    expect(queue.messages.map((m) => m.visible)).toEqual([true, true]);
  });

  it("filters by feed, reports each feed's streams, and marks the ledger row of the feed's work", async () => {
    const queue = fakeQueue([encodeMessage(message(A, 1)), encodeMessage(windowMessage(A, 2)), encodeMessage(windowMessage(B, 3))]);
    const { d, sent, ledgered } = deps(queue);
    const report = await redrivePoison({ source: "window-feed", tenantId: A }, d);
    expect(sent).toEqual([windowMessage(A, 2)]);
    expect(ledgered).toEqual([{ source: "window-feed", tenantId: A, stream: "Window", workId: "w2", created: new Date("2026-01-01T00:00:00.000Z") }]);
    expect(report.streams).toEqual([
      { source: "o365-audit", tenantId: A, stream: "Audit.SharePoint", redriven: 0, left: 1 },
      { source: "window-feed", tenantId: A, stream: "Window", redriven: 1, left: 0 },
      { source: "window-feed", tenantId: B, stream: "Window", redriven: 0, left: 1 },
    ]);
    expect(queue.messages.map((m) => m.id)).toEqual(["m0", "m2"]);
  });

  it("leaves a message of a feed not enabled here, or unknown, as invalid with the reason naming it", async () => {
    const queue = fakeQueue([encodeMessage(message(A, 1)), encodeMessage({ ...windowMessage(A, 2), source: "sophos-central" }), encodeMessage(windowMessage(A, 3))]);
    const { d, sent } = deps(queue, { feedOf: feedsEnabled(["window-feed"]) });
    const report = await redrivePoison({}, d);
    expect(sent).toEqual([windowMessage(A, 3)]);
    expect(report.invalid).toEqual([
      { messageId: "m0", reason: "source: feed o365-audit is not enabled here (enabled: window-feed)" },
      { messageId: "m1", reason: expect.stringMatching(/^source: unknown feed sophos-central /) },
    ]);
    expect(report.totals).toEqual({ redriven: 1, left: 0, invalid: 2 });
    expect(queue.messages.map((m) => [m.id, m.visible])).toEqual([["m0", true], ["m1", true]]);
  });

  it("starts a re-driven item again from where its feed says (a Sophos window's spent runs), keeping the envelope", async () => {
    const spent = { ...windowMessage(A, 4), source: "sophos-xdr", stream: "XdrIoc", item: { step: "poll", from: "2026-01-01T00:00:00.000Z", to: "2026-01-01T01:00:00.000Z", apiHost: "https://api-eu01.central.sophos.com", submissions: 4, runId: "r-9", submittedAt: "2026-01-01T01:10:00.000Z", polls: 7 } };
    const queue = fakeQueue([encodeMessage({ ...spent, throttled: 3 })]);
    const feedOf = (name: string): ItemCheck | string =>
      name === "sophos-xdr" ? { item: sophosXdrSource.item, refuse: () => undefined, redriven: (item) => sophosXdrSource.redriven?.(item as never) } : unknownFeedReason(name, ["sophos-xdr"]);
    const { d, sent } = deps(queue, { feedOf });
    await redrivePoison({}, d);
    expect(sent).toEqual([{ ...spent, throttled: 0, item: { step: "submit", from: spent.item.from, to: spent.item.to, apiHost: spent.item.apiHost, submissions: 0 } }]);
  });

  it("keeps the message in the poison queue when the ledger write fails, and releases what it held", async () => {
    const queue = fakeQueue([encodeMessage(message(B, 1)), encodeMessage(message(A, 2))]);
    const { d } = deps(queue, { ledger: { markRedriven: async () => Promise.reject(new Error("table down")) } });
    await expect(redrivePoison({ tenantId: A }, d)).rejects.toThrow("table down");
    expect(queue.calls.filter((c) => c.startsWith("delete"))).toEqual([]);
    expect(queue.messages.map((m) => [m.id, m.visible])).toEqual([["m0", true], ["m1", false]]);
  });
});
