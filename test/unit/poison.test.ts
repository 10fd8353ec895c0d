import { describe, expect, it } from "vitest";
import { readAppQueueSemantics, readQueueSemantics } from "../../shared/config/hostJson.js";
import { encodeMessage } from "../../shared/pipeline/contentQueue.js";
import type { ContentMessage } from "../../shared/pipeline/message.js";
import { markIfLastAttempt, redrivePoison, type RedriveDeps } from "../../shared/pipeline/poison.js";
import { recordingLogger } from "../helpers/harness.js";

const API = "https://manage.office.com";
const A = "11111111-1111-4111-8111-111111111111";
const B = "22222222-2222-4222-8222-222222222222";

function message(tenantId: string, n: number, overrides: Partial<ContentMessage> = {}): ContentMessage {
  const contentId = `20260101$${n}$audit_sharepoint$Audit_SharePoint$na0031`;
  return {
    v: 1,
    tenantId,
    contentType: "Audit.SharePoint",
    contentId,
    contentUri: `${API}/api/v1.0/${tenantId}/activity/feed/audit/${contentId}`,
    contentCreated: "2026-01-01T00:00:00.000Z",
    contentExpiration: "2026-01-08T00:00:00.000Z",
    throttled: 0,
    ...overrides,
  };
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
  const sent: ContentMessage[] = [];
  const redriven: string[] = [];
  const d: RedriveDeps = {
    poison: queue as unknown as RedriveDeps["poison"],
    send: async (m) => {
      queue.calls.push(`send ${m.contentId}`);
      sent.push(m);
    },
    ledger: {
      markRedriven: async (entry) => {
        queue.calls.push(`ledger ${entry.contentId}`);
        redriven.push(entry.contentId);
        return true;
      },
    },
    apiBaseUrl: API,
    now: () => 1,
    ...overrides,
  };
  return { d, sent, redriven };
}

describe("marking the ledger row of a message on its last attempt", () => {
  const ledgerCalls = () => {
    const calls: { contentId: string; error: string }[] = [];
    return { calls, ledger: { markPoisoned: async (entry: { contentId: string }, error: string) => (calls.push({ contentId: entry.contentId, error }), true) } };
  };

  it("marks only when the dequeue count has reached maxDequeueCount", async () => {
    const { calls, ledger } = ledgerCalls();
    const log = recordingLogger();
    for (const dequeueCount of [undefined, 1, 4, 5, 6]) {
      await markIfLastAttempt(message(A, dequeueCount ?? 0), new Error(`fail ${dequeueCount}`), { dequeueCount, maxDequeueCount: 5 }, { ledger, log, now: () => 1 });
    }
    expect(calls.map((c) => c.error)).toEqual(["fail 5", "fail 6"]);
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
    expect(queue.calls).toEqual([`send ${message(A, 1).contentId}`, `ledger ${message(A, 1).contentId}`, "delete m0"]);
    expect(queue.messages).toEqual([]);
    expect(report.totals).toEqual({ redriven: 1, left: 0, invalid: 0 });
  });

  it("leaves other tenants' and invalid messages in the queue, visible again, and counts each once across batches", async () => {
    const texts = [
      ...Array.from({ length: 40 }, (_, i) => encodeMessage(message(i % 2 === 0 ? A : B, i))),
      Buffer.from("not json").toString("base64"),
      Buffer.from(JSON.stringify({ ...message(A, 99), contentUri: "https://evil.example/x" })).toString("base64"),
    ];
    const queue = fakeQueue(texts);
    const { d, sent, redriven } = deps(queue);
    const report = await redrivePoison({ tenantId: A.toUpperCase() }, d);
    expect(sent.map((m) => m.tenantId)).toEqual(Array(20).fill(A));
    expect(redriven).toHaveLength(20);
    expect(report.streams).toEqual([
      { tenantId: A, contentType: "Audit.SharePoint", redriven: 20, left: 0 },
      { tenantId: B, contentType: "Audit.SharePoint", redriven: 0, left: 20 },
    ]);
    expect(report.invalid.map((i) => i.reason)).toEqual([expect.stringMatching(/not JSON/), expect.stringMatching(/^contentUri:/)]);
    expect(report.totals).toEqual({ redriven: 20, left: 20, invalid: 2 });
    expect(queue.messages).toHaveLength(22);
    expect(queue.messages.every((m) => m.visible)).toBe(true);
  });

  it("filters by content type too, and a dry run moves nothing", async () => {
    const dlp = message(A, 2, { contentType: "DLP.All", contentUri: `${API}/api/v1.0/${A}/activity/feed/audit/dlp-2`, contentId: "dlp-2" });
    const queue = fakeQueue([encodeMessage(message(A, 1)), encodeMessage(dlp)]);
    const { d, sent } = deps(queue, { dryRun: true });
    const report = await redrivePoison({ contentType: "DLP.All" }, d);
    expect(report).toMatchObject({ dryRun: true, totals: { redriven: 1, left: 1, invalid: 0 } });
    expect(sent).toEqual([]);
    expect(queue.calls).toEqual([]);
    expect(queue.messages.map((m) => m.visible)).toEqual([true, true]);
  });

  it("keeps the message in the poison queue when the ledger write fails, and releases what it held", async () => {
    const queue = fakeQueue([encodeMessage(message(B, 1)), encodeMessage(message(A, 2))]);
    const { d } = deps(queue, { ledger: { markRedriven: async () => Promise.reject(new Error("table down")) } });
    await expect(redrivePoison({ tenantId: A }, d)).rejects.toThrow("table down");
    expect(queue.calls.filter((c) => c.startsWith("delete"))).toEqual([]);
    expect(queue.messages.map((m) => [m.id, m.visible])).toEqual([["m0", true], ["m1", false]]);
  });
});
