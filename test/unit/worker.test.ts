import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { WorkMessage } from "../../shared/pipeline/message.js";
import { InvalidContentError, streamRecords } from "../../shared/pipeline/records.js";
import { CLAIMS_IN_FLIGHT, processWork, type WorkedFeed, type WorkerDeps } from "../../shared/pipeline/worker.js";
import type { OutputSink, OutputWriter } from "../../shared/sinks/sink.js";
import type { Failure } from "../../shared/sources/source.js";
import type { ClaimRequest } from "../../shared/state/claims.js";
import type { LedgerEntry, WorkLedger } from "../../shared/state/ledger.js";
import { recordingLogger } from "../helpers/harness.js";

/**
 * The worker against an in-memory feed, ledger, claims and sink: what it writes where, and what it
 * does with each class of failure, for any feed.
 */

const NOW = Date.parse("2026-03-01T12:00:00.000Z");
const T = "tenant-a";

/** `h`: the record's claim hour, when not the work's. */
type Rec = { id?: string; n: number; h?: string };

function message(overrides: Partial<WorkMessage> = {}): WorkMessage {
  return { v: 2, source: "fake-feed", tenantId: T, stream: "Stream.One", workId: "20260301$w1", created: "2026-03-01T09:30:00.000Z", throttled: 0, item: { any: "thing" }, ...overrides };
}

/** A feed that yields `records` (or throws `error` when fetching), one NDJSON line per record. */
function fakeFeed(options: { records?: Rec[]; error?: unknown; raw?: boolean } = {}) {
  const fetched: WorkMessage[] = [];
  const session: WorkedFeed["session"] = {
    async fetch(work) {
      fetched.push(work as WorkMessage);
      if (options.error !== undefined) throw options.error;
      // The records as one page: already read, as a page or a buffered chunk is.
      return (async function* () {
        if (options.records?.length) yield options.records;
      })();
    },
    recordKey: (record) => ((record as Rec).id ? { recordId: (record as Rec).id as string, hour: (record as Rec).h ?? "2026-03-01T09" } : undefined),
    toLine: (record) => ({ line: `${JSON.stringify(record)}\n`, pipelineError: (record as Rec).n < 0 }),
    failure: (error) => (error as { failure?: Failure }).failure,
    ...(options.raw ? { raw: async () => Readable.from([Buffer.from("raw bytes")]) } : {}),
  };
  return { feed: { name: "fake-feed", dataset: "fake.dataset", session } satisfies WorkedFeed, fetched };
}

function failing(failure: Failure): Error {
  return Object.assign(new Error(`api said ${failure.errorClass}`), { failure });
}

function setup(feed: WorkedFeed, known?: Partial<LedgerEntry>) {
  const finished: LedgerEntry[] = [];
  const outputs = new Map<string, string[]>();
  /** Every write's text, as the writer got it. */
  const writes: string[] = [];
  const writesAfterAbort: string[] = [];
  const aborted: string[] = [];
  const raw: { path: string; metadata: Record<string, string> }[] = [];
  const requeued: { message: WorkMessage; delayMs: number }[] = [];
  const claimCalls: { tenantId: string; owner: string; requests: ClaimRequest[] }[] = [];
  const sink: OutputSink = {
    location: "memory",
    async open(path) {
      const texts: string[] = [];
      let abortedHere = false;
      const writer: OutputWriter = {
        write: async (chunk) => {
          // Decoded at once: the worker reuses the chunk's memory once the write resolves.
          const text = Buffer.from(chunk).toString("utf8");
          (abortedHere ? writesAfterAbort : texts).push(text);
          writes.push(text);
        },
        commit: async () => (outputs.set(path, texts.join("").split("\n").slice(0, -1)), { bytes: texts.join("").length }),
        abort: async () => {
          abortedHere = true;
          aborted.push(path);
        },
      };
      return writer;
    },
    async putRaw(path, _body, metadata) {
      raw.push({ path, metadata });
    },
  };
  const log = recordingLogger();
  const deps: WorkerDeps = {
    feed,
    ledger: {
      get: async (tenantId: string, stream: string, workId: string) => (known ? ({ source: feed.name, tenantId, stream, workId, state: "queued", created: new Date(0), ...known } as LedgerEntry) : undefined),
      finish: async (entry: LedgerEntry) => void finished.push(entry),
    } as unknown as WorkLedger,
    claims: {
      claim: async (tenantId, owner, requests) => {
        claimCalls.push({ tenantId, owner, requests });
        // Ids starting with "dup" were claimed by an earlier work item: duplicates here.
        return new Set(requests.map((r) => r.recordId).filter((id) => !id.startsWith("dup")));
      },
    },
    sink,
    namespace: "tenant_space",
    requeue: async (next, delayMs) => void requeued.push({ message: next, delayMs }),
    log,
    now: () => NOW,
    random: () => 0.5,
  };
  return { deps, finished, outputs, writes, writesAfterAbort, aborted, raw, requeued, claimCalls, log };
}

describe("processing a work item of any feed", () => {
  it("writes its records under {dataset}/{tenantId}/{stream}/yyyy/MM/dd/HH/{workId}.ndjson.gz and marks the row done", async () => {
    const { feed } = fakeFeed({ records: [{ id: "r1", n: 1 }, { n: 2 }, { id: "r3", n: -1 }] });
    const { deps, outputs, finished } = setup(feed);
    const outcome = await processWork(message(), deps);
    const path = "fake.dataset/tenant-a/Stream.One/2026/03/01/09/20260301+w1.ndjson.gz";
    expect(outcome).toEqual({ status: "done", records: 3, duplicates: 0, pipelineErrors: 1, bytes: expect.any(Number), output: path });
    expect(outputs.get(path)).toEqual(['{"id":"r1","n":1}', '{"n":2}', '{"id":"r3","n":-1}']);
    expect(finished).toEqual([
      expect.objectContaining({ source: "fake-feed", tenantId: T, stream: "Stream.One", workId: "20260301$w1", state: "done", records: 3, pipelineErrors: 1, output: path, attempts: 1, error: "" }),
    ]);
    expect(finished[0]).not.toHaveProperty("expires");
  });

  it("writes a record that comes twice within the item once, its first copy, whether the copy is in the same batch or a later one", async () => {
    // 700 records, two batches. r5 comes again in the first batch and in the second, r600 again in the
    // second; r7 comes again with another claim hour, so it is another record to the claims too.
    const records: Rec[] = Array.from({ length: 700 }, (_, i) => ({ id: `r${i}`, n: i }));
    records.splice(10, 0, { id: "r5", n: 5_001 });
    records.push({ id: "r5", n: 5_002 }, { id: "r600", n: 600_001 }, { id: "r7", n: 7_001, h: "2026-03-01T08" });
    const { feed } = fakeFeed({ records });
    const { deps, outputs } = setup(feed);
    const outcome = await processWork(message(), deps);
    expect(outcome).toMatchObject({ status: "done", records: 701, duplicates: 3 });
    const expected = [...Array.from({ length: 700 }, (_, i) => ({ id: `r${i}`, n: i })), { id: "r7", n: 7_001, h: "2026-03-01T08" }];
    expect([...outputs.values()][0]).toEqual(expected.map((r) => JSON.stringify(r)));
    // The item run again (a retry) writes the same lines: what it kept is its own to keep again.
    const again = setup(feed);
    expect(await processWork(message(), again.deps)).toMatchObject({ status: "done", records: 701, duplicates: 3 });
    expect([...again.outputs.values()][0]).toEqual([...outputs.values()][0]);
  });

  it("writes a record another work item claimed first only once: there", async () => {
    const { feed } = fakeFeed({ records: [{ id: "dup", n: 1 }, { id: "r2", n: 2 }] });
    const { deps, outputs, claimCalls } = setup(feed);
    const outcome = await processWork(message(), deps);
    expect(outcome).toMatchObject({ status: "done", records: 1, duplicates: 1 });
    expect([...outputs.values()]).toEqual([['{"id":"r2","n":2}']]);
    expect(claimCalls.map((c) => [c.tenantId, c.owner])).toEqual([[T, "Stream.One/20260301$w1"]]);
  });

  it("leaves no output when there is nothing to write, and still marks the row done", async () => {
    const { feed } = fakeFeed({ records: [] });
    const { deps, outputs, aborted, finished } = setup(feed);
    expect(await processWork(message(), deps)).toMatchObject({ status: "done", records: 0, output: undefined });
    expect(outputs.size).toBe(0);
    expect(aborted).toHaveLength(1);
    expect(finished[0]).toMatchObject({ state: "done", output: "" });
  });

  it.each(["done", "failed", "expired"] as const)("skips work the ledger says is %s, fetching nothing", async (state) => {
    const { feed, fetched } = fakeFeed({ records: [{ n: 1 }] });
    const { deps, finished } = setup(feed, { state });
    expect(await processWork(message(), deps)).toEqual({ status: "skipped", reason: `ledger says ${state}` });
    expect(fetched).toEqual([]);
    expect(finished).toEqual([]);
  });

  it("processes a poisoned row's message (re-driven) and counts the attempt", async () => {
    const { feed } = fakeFeed({ records: [{ n: 1 }] });
    const { deps, finished } = setup(feed, { state: "poisoned", attempts: 5 });
    expect(await processWork(message(), deps)).toMatchObject({ status: "done" });
    expect(finished[0]).toMatchObject({ state: "done", attempts: 6 });
  });

  it("expires work past its expiry without fetching it; work without one never expires by date", async () => {
    const { feed, fetched } = fakeFeed({ records: [{ n: 1 }] });
    const past = setup(feed);
    expect(await processWork(message({ expires: new Date(NOW - 1).toISOString() }), past.deps)).toEqual({ status: "expired" });
    expect(fetched).toEqual([]);
    expect(past.finished[0]).toMatchObject({ state: "expired", expires: new Date(NOW - 1) });
    const windowed = setup(feed);
    expect(await processWork(message({ created: "2020-01-01T00:00:00.000Z" }), windowed.deps)).toMatchObject({ status: "done" });
  });

  describe("failures, as the feed classes them", () => {
    it("puts throttled work back with the API's Retry-After, counting the throttle", async () => {
      const { feed } = fakeFeed({ error: failing({ errorClass: "throttled", fix: "", retryAfterMs: 30_000, sent: true }) });
      const { deps, requeued, finished } = setup(feed);
      expect(await processWork(message({ throttled: 2 }), deps)).toEqual({ status: "throttled", delayMs: 30_500 });
      expect(requeued).toEqual([{ message: message({ throttled: 3 }), delayMs: 30_500 }]);
      expect(finished).toEqual([]);
    });

    it("does not count a throttle that was refused at the gate before anything was sent", async () => {
      const { feed } = fakeFeed({ error: failing({ errorClass: "throttled", fix: "", sent: false }) });
      const { deps, requeued } = setup(feed);
      await processWork(message({ throttled: 2 }), deps);
      expect(requeued.map((r) => r.message.throttled)).toEqual([2]);
    });

    it("marks expired and not-found work final, without retrying it", async () => {
      for (const [errorClass, state] of [["expired", "expired"], ["notFound", "failed"]] as const) {
        const { feed } = fakeFeed({ error: failing({ errorClass, fix: "", sent: true }) });
        const { deps, finished, requeued } = setup(feed);
        expect((await processWork(message(), deps)).status).toBe(state);
        expect(finished).toEqual([expect.objectContaining({ source: "fake-feed", state, error: `api said ${errorClass}` })]);
        expect(requeued).toEqual([]);
      }
    });

    it("rethrows what the feed does not know, or calls transient, for the queue to retry", async () => {
      for (const error of [new Error("socket hang up"), failing({ errorClass: "transient", fix: "", sent: true })]) {
        const { feed } = fakeFeed({ error });
        const { deps, finished } = setup(feed);
        await expect(processWork(message(), deps)).rejects.toBe(error);
        expect(finished).toEqual([]);
      }
    });

    it("keeps the raw bytes of content that cannot be parsed under failed/, when the feed can fetch them again", async () => {
      const { feed } = fakeFeed({ error: new InvalidContentError("not a JSON array"), raw: true });
      const { deps, raw, finished } = setup(feed);
      expect(await processWork(message(), deps)).toEqual({ status: "failed", reason: "not a JSON array" });
      const path = "failed/fake.dataset/tenant-a/Stream.One/20260301+w1.json";
      expect(raw).toEqual([{ path, metadata: { source: "fake-feed", tenantId: T, stream: "Stream.One", workId: "20260301$w1", error: "not a JSON array" } }]);
      expect(finished[0]).toMatchObject({ state: "failed", output: path, error: "not a JSON array" });
    });

    it("fails such content without a copy when the feed has no raw bytes to give", async () => {
      const { feed } = fakeFeed({ error: new InvalidContentError("bad page") });
      const { deps, raw, finished } = setup(feed);
      expect(await processWork(message(), deps)).toEqual({ status: "failed", reason: "bad page" });
      expect(raw).toEqual([]);
      expect(finished[0]).toMatchObject({ state: "failed", output: "" });
    });
  });

  it("puts an item that took a step of a longer job back on the queue with its next state, writing nothing", async () => {
    const { feed } = fakeFeed();
    const stepping = { ...feed, session: { ...feed.session, fetch: async () => ({ kind: "next" as const, item: { run: "r-1", polls: 1 }, delayMs: 30_000, step: "run r-1 running, poll 1" }) } };
    const { deps, outputs, aborted, requeued, finished } = setup(stepping);
    const outcome = await processWork(message({ throttled: 2 }), deps);
    expect(outcome).toEqual({ status: "continued", delayMs: 30_000, step: "run r-1 running, poll 1" });
    // Same envelope and work id, the new item; its own throttle count goes on.
    expect(requeued).toEqual([{ message: message({ throttled: 2, item: { run: "r-1", polls: 1 } }), delayMs: 30_000 }]);
    expect(outputs.size).toBe(0);
    expect(aborted).toHaveLength(1);
    expect(finished).toEqual([expect.objectContaining({ state: "queued", step: "run r-1 running, poll 1" })]);
  });

  it("notes the step in the ledger before it puts the item back: a failed note must not leave two copies on the queue", async () => {
    const { feed } = fakeFeed();
    const stepping = { ...feed, session: { ...feed.session, fetch: async () => ({ kind: "next" as const, item: { run: "r-2" }, delayMs: 1_000, step: "run r-2 submitted" }) } };
    const { deps, requeued } = setup(stepping);
    deps.ledger.finish = async () => Promise.reject(new Error("table down"));
    await expect(processWork(message(), deps)).rejects.toThrow("table down");
    expect(requeued).toEqual([]);
  });

  describe("a content blob read with streamRecords", () => {
    /** The fake feed, its records read from `chunks` as a content blob is. */
    function blobFeed(chunks: string[]) {
      const { feed } = fakeFeed({ raw: true });
      return { ...feed, session: { ...feed.session, fetch: async () => streamRecords(Readable.from(chunks.map((chunk) => Buffer.from(chunk)))) } };
    }

    it("writes the good records around an element that is not JSON, and that element as a pipeline_error document keeping its text", async () => {
      const { deps, outputs, claimCalls, finished } = setup(blobFeed(['[{"id":"r1","n":1},{"id":"r2",', '"n":}, {"id":"r3","n":3}]']));
      const outcome = await processWork(message(), deps);
      expect(outcome).toMatchObject({ status: "done", records: 3, duplicates: 0, pipelineErrors: 1 });
      const [first, bad, last] = [...outputs.values()][0]!;
      expect([first, last]).toEqual(['{"id":"r1","n":1}', '{"id":"r3","n":3}']);
      expect(JSON.parse(bad!)).toEqual({
        "@timestamp": new Date(NOW).toISOString(),
        ecs: { version: expect.any(String) },
        event: { kind: "pipeline_error", original: '{"id":"r2","n":}', ingested: new Date(NOW).toISOString(), dataset: "fake.dataset" },
        error: { message: expect.stringMatching(/^element 2 at line 1 column 20 is not valid JSON: .*; it starts at byte offset 19$/) },
        tags: ["preserve_original_event"],
        data_stream: { type: "logs", dataset: "fake.dataset", namespace: "tenant_space" },
      });
      // It has no key to claim by: only the good records were claimed.
      expect(claimCalls.flatMap((call) => call.requests.map((r) => r.recordId))).toEqual(["r1", "r3"]);
      expect(finished[0]).toMatchObject({ state: "done", records: 3, pipelineErrors: 1 });
    });

    it("hands each record to the feed with its text, after its key is read, so that the feed may map it in place", async () => {
      const { feed } = fakeFeed();
      const texts: (string | undefined)[] = [];
      const inPlace = {
        ...feed,
        session: {
          ...feed.session,
          fetch: async () => streamRecords(Readable.from(['[{"id":"r1","n":1},', ' {"id":"r2", "n":2}]'].map((chunk) => Buffer.from(chunk)))),
          // Takes the id out of the record it maps, as a mapping that works in place does.
          toLine: (record: unknown, _work: unknown, text?: string) => {
            texts.push(text);
            const { id, n } = record as Rec;
            delete (record as Rec).id;
            return { line: `${JSON.stringify({ was: id, n })}\n`, pipelineError: false };
          },
        },
      };
      const { deps, outputs, claimCalls } = setup(inPlace);
      expect(await processWork(message(), deps)).toMatchObject({ status: "done", records: 2, duplicates: 0 });
      expect(texts).toEqual(['{"id":"r1","n":1}', '{"id":"r2", "n":2}']);
      expect(claimCalls.flatMap((call) => call.requests.map((r) => r.recordId))).toEqual(["r1", "r2"]);
      expect([...outputs.values()][0]).toEqual(['{"was":"r1","n":1}', '{"was":"r2","n":2}']);
    });

    it("still fails content that is not a JSON array as a whole, keeping its raw bytes", async () => {
      const { deps, outputs, aborted, raw, finished } = setup(blobFeed(["<html>throttled</html>"]));
      expect(await processWork(message(), deps)).toEqual({ status: "failed", reason: 'content is not a JSON array (starts with "<")' });
      expect(outputs.size).toBe(0);
      expect(aborted).toHaveLength(1);
      expect(raw.map((r) => r.path)).toEqual(["failed/fake.dataset/tenant-a/Stream.One/20260301+w1.json"]);
      expect(finished[0]).toMatchObject({ state: "failed", output: raw[0]!.path });
    });

    it("fails content cut short as a whole, even after a batch of its records was written, and commits nothing", async () => {
      const records = Array.from({ length: 600 }, (_, i) => JSON.stringify({ id: `r${i}`, n: i }));
      const { deps, outputs, writes, aborted, raw, finished } = setup(blobFeed([`[${records.join(",")}`, ',{"id":"r600","n"']));
      const outcome = await processWork(message(), deps);
      expect(outcome).toEqual({ status: "failed", reason: expect.stringMatching(/^content is cut short: element 601 at line 1 column \d+ is not valid JSON: the input ends inside it/) });
      expect(writes).toHaveLength(1);
      expect(outputs.size).toBe(0);
      expect(aborted).toHaveLength(1);
      expect(raw).toHaveLength(1);
      expect(finished[0]).toMatchObject({ state: "failed", output: raw[0]!.path });
    });
  });

  describe("batches of 500 records", () => {
    /** 1,200 records (batches of 500, 500 and 200), every tenth claimed by another work item first. */
    const many = Array.from({ length: 1_200 }, (_, i) => ({ id: i % 10 === 3 ? `dup${i}` : `r${i}`, n: i }));

    it("normalizes on while the claims of several batches are out, at most CLAIMS_IN_FLIGHT at once, writing each batch's owned lines at once and in order however the answers come", async () => {
      // 4,000 records: eight batches, every tenth claimed by another work item first.
      const records = Array.from({ length: 4_000 }, (_, i) => ({ id: i % 10 === 3 ? `dup${i}` : `r${i}`, n: i }));
      const { feed } = fakeFeed({ records });
      // The store holds its answers until the worker has CLAIMS_IN_FLIGHT calls out (or has mapped every
      // record), then answers them newest first.
      const held: (() => void)[] = [];
      const answerHeld = () => {
        for (const answer of held.splice(0).reverse()) answer();
      };
      let mapped = 0;
      const mappedWhenAnswered: number[] = [];
      const counting = {
        ...feed,
        session: {
          ...feed.session,
          toLine: (record: unknown) => {
            mapped += 1;
            if (mapped === records.length) answerHeld();
            return feed.session.toLine(record, message());
          },
        },
      };
      const { deps, outputs, writes } = setup(counting);
      const claimed = deps.claims.claim;
      let calls = 0;
      let inFlight = 0;
      let mostInFlight = 0;
      const answered: number[] = [];
      deps.claims.claim = async (tenantId, owner, requests) => {
        const call = calls++;
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
        await new Promise<void>((resolve) => {
          held.push(resolve);
          if (held.length === CLAIMS_IN_FLIGHT || mapped === records.length) answerHeld();
        });
        mappedWhenAnswered[call] = mapped;
        answered.push(call);
        inFlight -= 1;
        return claimed(tenantId, owner, requests);
      };
      const outcome = await processWork(message(), deps);
      expect(outcome).toMatchObject({ status: "done", records: 3_600, duplicates: 400 });
      expect([...outputs.values()][0]).toEqual(records.filter((r) => !r.id.startsWith("dup")).map((r) => JSON.stringify(r)));
      expect(mostInFlight).toBe(CLAIMS_IN_FLIGHT);
      // Answers came out of order, yet every batch was written whole, in its order.
      expect(answered).not.toEqual([...answered].sort((a, b) => a - b));
      expect(writes).toHaveLength(8);
      // The first batch's claims were answered once the second batch was mapped, not before it began.
      expect(mappedWhenAnswered[0]).toBeGreaterThan(500);
    });

    it("gives the event loop a turn every 2 ms of mapping, however fast the records come", async () => {
      // Records that arrive without a wait (a page, a buffered chunk), each 0.25 ms of mapping: 50 ms in all.
      const records = Array.from({ length: 200 }, (_, i) => ({ id: `r${i}`, n: i }));
      const { feed } = fakeFeed({ records });
      let mapped = 0;
      const busy = {
        ...feed,
        session: {
          ...feed.session,
          toLine: (record: unknown) => {
            const until = performance.now() + 0.25;
            while (performance.now() < until);
            mapped += 1;
            return feed.session.toLine(record, message());
          },
        },
      };
      const { deps } = setup(busy);
      const mappedAtTurns: number[] = [];
      let working = true;
      const countTurns = () => {
        mappedAtTurns.push(mapped);
        if (working) setImmediate(countTurns);
      };
      setImmediate(countTurns);
      await processWork(message(), deps);
      working = false;
      // A turn once a 500-record batch would have come only at the end; every 2 ms is about 25 turns.
      expect(mappedAtTurns.filter((at) => at < records.length).length).toBeGreaterThanOrEqual(10);
      expect(mappedAtTurns[0]).toBeLessThanOrEqual(12);
    });

    it("lets a batch whose claims are out settle before the output is aborted for a failed read", async () => {
      const { feed } = fakeFeed();
      const cut = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
      const failing = {
        ...feed,
        session: {
          ...feed.session,
          fetch: async () =>
            (async function* () {
              yield many.slice(0, 600);
              throw cut;
            })(),
        },
      };
      const { deps, outputs, aborted, writesAfterAbort } = setup(failing);
      const claimed = deps.claims.claim;
      deps.claims.claim = async (tenantId, owner, requests) => {
        await new Promise((resolve) => setImmediate(resolve));
        return claimed(tenantId, owner, requests);
      };
      await expect(processWork(message(), deps)).rejects.toBe(cut);
      // Past the claims' round trip: a batch still settling would have written by now.
      await new Promise((resolve) => setImmediate(resolve));
      expect(outputs.size).toBe(0);
      expect(aborted).toHaveLength(1);
      expect(writesAfterAbort).toEqual([]);
    });

    it("aborts the output when a claim call fails mid-stream, and nothing is written after the abort", async () => {
      const { feed } = fakeFeed({ records: many });
      const { deps, outputs, aborted, writesAfterAbort, finished } = setup(feed);
      const claimed = deps.claims.claim;
      let calls = 0;
      deps.claims.claim = async (tenantId, owner, requests) => {
        calls += 1;
        if (calls === 2) throw new Error("claims table unavailable");
        return claimed(tenantId, owner, requests);
      };
      await expect(processWork(message(), deps)).rejects.toThrow("claims table unavailable");
      expect(outputs.size).toBe(0);
      expect(aborted).toHaveLength(1);
      expect(writesAfterAbort).toEqual([]);
      expect(finished).toEqual([]);
    });
  });
});
