import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeFeeds, normalizeStream } from "../../shared/cli/normalizeFile.js";
import { messageTraceMapper } from "../../shared/sources/message-trace/offline.js";
import { auditMapper } from "../../shared/sources/o365-audit/offline.js";
import { SOURCES } from "../../shared/sources/registry.js";
import type { Offline } from "../../shared/sources/source.js";

const context = { tenantNames: new Map<string, string>(), preserveOriginal: false, now: () => 0 };

interface Doc {
  event: { id?: string; kind?: string; original?: string };
  error?: { message: string };
  tags?: string[];
  organization?: { name?: string };
}

async function run(input: string, options: Partial<typeof context> = {}) {
  const output = new PassThrough();
  const chunks: Buffer[] = [];
  output.on("data", (c: Buffer) => chunks.push(c));
  const count = await normalizeStream(Readable.from([Buffer.from(input)]), output, auditMapper({ ...context, ...options }));
  return { count, docs: Buffer.concat(chunks).toString("utf8").trim().split("\n").map((l) => JSON.parse(l) as Doc) };
}

describe("audit-intake normalize --source o365-audit", () => {
  it("reads a JSON array and writes one document per record, in order", async () => {
    const { count, docs } = await run(' [{"Id":"a","Operation":"X"},{"Id":"b","Operation":"Y"},{"Id":"c"}]');
    expect(count).toBe(3);
    expect(docs.map((d) => d.event.id)).toEqual(["a", "b", "c"]);
    // Stamped with the feed's data stream, as the worker's documents and the other feeds' are.
    expect((docs[0] as unknown as { data_stream: unknown }).data_stream).toEqual({ type: "logs", dataset: "o365.audit", namespace: "default" });
  });

  it("writes every good record of an array and a pipeline_error, naming line and column, for the bad one", async () => {
    const { count, docs } = await run('[\n  {"Id":"a"},\n  {"Id": bad},\n  {"Id":"c"}\n]\n');
    expect(count).toBe(3);
    expect(docs.map((d) => d.event.id ?? d.event.kind)).toEqual(["a", "pipeline_error", "c"]);
    expect(docs[1]!.event.original).toBe('{"Id": bad}');
    expect(docs[1]!.error!.message).toMatch(/^element 2 at line 3 column 3 is not valid JSON: /);
    expect(docs[1]!.tags).toEqual(["preserve_original_event"]);
  });

  it("writes one document for a pretty-printed object", async () => {
    const { count, docs } = await run(`${JSON.stringify({ Id: "a", Operation: "FileAccessed", Nested: { x: [1, 2] } }, null, 2)}\n`);
    expect(count).toBe(1);
    expect(docs[0]!.event).toMatchObject({ kind: "event", id: "a" });
  });

  it("reads NDJSON, keeping one output line per input line even for a line that is not JSON", async () => {
    const { count, docs } = await run('{"Id":"a"}\n\n{broken\n{"Id":"c"}\n');
    expect(count).toBe(3);
    expect(docs[0]!.event.id).toBe("a");
    expect(docs[1]!.event.kind).toBe("pipeline_error");
    expect(docs[1]!.error!.message).toMatch(/^value 2 at line 3 column 1 is not valid JSON: .* at line 3 column 2 \(offset 13\)$/);
    expect(docs[2]!.event.id).toBe("c");
  });

  it("keeps event.original with Elastic's preserve_original_event tag when asked to", async () => {
    const { docs } = await run('[{"Id":"a","Operation":"X"}]', { preserveOriginal: true });
    expect(docs[0]!.event.original).toBe('{"Id":"a","Operation":"X"}');
    expect(docs[0]!.tags).toEqual(["preserve_original_event"]);
    expect((await run('[{"Id":"a"}]')).docs[0]!.tags).toBeUndefined();
  });
});

describe("audit-intake normalize --source message-trace", () => {
  const traceContext = { localDomains: ["contoso.com"], preserveOriginal: false, now: () => 0 };

  async function runTrace(input: string) {
    const output = new PassThrough();
    const chunks: Buffer[] = [];
    output.on("data", (c: Buffer) => chunks.push(c));
    const count = await normalizeStream(Readable.from([Buffer.from(input)]), output, messageTraceMapper(traceContext));
    const docs = Buffer.concat(chunks).toString("utf8").trim().split("\n").filter(Boolean);
    return { count, docs: docs.map((l) => JSON.parse(l) as { event: { kind?: string; dataset?: string }; email?: { local_id?: string; direction?: string } }) };
  }

  it("unwraps a saved page into its rows, and writes nothing for an empty page", async () => {
    const row = (id: string) => ({ MessageTraceId: id, Received: "/Date(1700000000000)/", SenderAddress: "a@fabrikam.com", RecipientAddress: "b@contoso.com", Status: "Delivered" });
    const { count, docs } = await runTrace(`${JSON.stringify({ d: { results: [row("t1"), row("t2")] } })}\n{"value":[]}\n${JSON.stringify(row("t3"))}\n`);
    expect(count).toBe(3);
    expect(docs.map((d) => d.email?.local_id)).toEqual(["t1", "t2", "t3"]);
    expect(docs[0]!.email?.direction).toBe("inbound");
  });

  it("writes a line that is not JSON as a pipeline_error of the message-trace data stream", async () => {
    const { count, docs } = await runTrace('{"MessageTraceId":"t1","Received":"2026-01-01T00:00:00Z"}\n{broken\n');
    expect(count).toBe(2);
    expect(docs[1]!.event).toMatchObject({ kind: "pipeline_error", dataset: "microsoft_exchange_online_message_trace.log" });
  });
});

describe("the feeds normalize reads", () => {
  /** A feed of the registry as `normalize` sees it, declaring the given options. */
  const feed = (name: string, options: string[], aliases?: string[]) => {
    const offline: Offline = {
      input: `${name} records`,
      ...(aliases ? { aliases } : {}),
      options: Object.fromEntries(options.map((option) => [option, { argument: "<x>", description: option, parse: (text: string) => text }])),
      mapper: () => auditMapper(context),
    };
    return { name, offline };
  };

  it("are the registry's feeds with an offline mapping, by name and alias", () => {
    const feeds = normalizeFeeds([...SOURCES, { name: "api-only", offline: undefined }]);
    expect([...feeds.keys()]).toEqual(SOURCES.flatMap((source) => (source.offline ? [source.name, ...(source.offline.aliases ?? [])] : [])));
    expect([...feeds.keys()]).toEqual(expect.arrayContaining(["o365-audit", "audit", "message-trace"]));
    expect(feeds.get("audit")).toBe(feeds.get("o365-audit"));
  });

  it("fail fast when two feeds declare one option, or claim one name", () => {
    expect(() => normalizeFeeds([feed("a", ["tenant-names"]), feed("b", ["local-domains", "tenant-names"])])).toThrow("normalize: feeds a and b both declare --tenant-names");
    expect(() => normalizeFeeds([feed("a", [], ["old"]), feed("old", [])])).toThrow("normalize: feeds a and old are both named old");
  });
});

describe("audit-intake normalize, as a command", () => {
  const main = fileURLToPath(new URL("../../shared/cli/main.ts", import.meta.url));
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "audit-intake-normalize-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs the CLI from its source; `onStdout` may close stdout early, as `| head -1` does. */
  async function cli(args: string[], onStdout?: (chunk: Buffer, stdout: Readable) => void) {
    const child = spawn(process.execPath, ["--import", "tsx", main, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => {
      stdout.push(chunk);
      onStdout?.(chunk, child.stdout);
    });
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    const [code] = (await once(child, "close")) as [number | null];
    return { code, stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") };
  }

  it("ends quietly with exit code 0 when the reader closes the output early (| head -1)", async () => {
    const file = join(dir, "many.ndjson");
    // Far more output than a pipe holds, so the command is still writing when the reader goes.
    await writeFile(file, '{"Id":"a","Operation":"FileAccessed","UserId":"someone@contoso.com"}\n'.repeat(50_000));
    const result = await cli(["normalize", file], (_chunk, stdout) => stdout.destroy());
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.split("\n")[0]!)).toMatchObject({ event: { id: "a" } });
  });

  it("says in one line that a file cannot be read, with exit code 1", async () => {
    const missing = join(dir, "missing.json");
    const result = await cli(["normalize", missing]);
    expect(result).toEqual({ code: 1, stdout: "", stderr: `audit-intake: cannot read ${missing}: no such file or directory\n` });
  });

  it("applies --tenant-names and --preserve-original", async () => {
    const file = join(dir, "records.json");
    await writeFile(file, '[{"Id":"a","Operation":"X","OrganizationId":"11111111-2222-4333-8444-555555555555"}]');
    const result = await cli(["normalize", "--tenant-names", "11111111-2222-4333-8444-555555555555=contoso.onmicrosoft.com", "--preserve-original", file]);
    expect(result.code).toBe(0);
    const doc = JSON.parse(result.stdout) as Doc;
    expect(doc.organization?.name).toBe("contoso.onmicrosoft.com");
    expect(doc.tags).toEqual(["preserve_original_event"]);
    expect(doc.event.original).toBe('{"Id":"a","Operation":"X","OrganizationId":"11111111-2222-4333-8444-555555555555"}');
  });

  it("normalizes a saved message-trace page with --source message-trace and --local-domains", async () => {
    const file = join(dir, "trace-page.json");
    const row = (recipient: string) => ({ MessageTraceId: "t1", Received: "/Date(1700000000000)/", SenderAddress: "a@fabrikam.com", RecipientAddress: recipient, Status: "Delivered" });
    await writeFile(file, JSON.stringify({ d: { results: [row("b@contoso.com"), row("c@example.org")] } }));
    const result = await cli(["normalize", "--source", "message-trace", "--local-domains", "contoso.com", "--preserve-original", file]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const docs = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as { "@timestamp": string; email: { direction: string }; event: { dataset: string; original: string } });
    expect(docs.map((d) => d.email.direction)).toEqual(["inbound", "external"]);
    expect(docs[0]!["@timestamp"]).toBe("2023-11-14T22:13:20.000Z");
    expect(docs[0]!.event.dataset).toBe("microsoft_exchange_online_message_trace.log");
    expect(docs[1]!.event.original).toBe(JSON.stringify(row("c@example.org")));
  });

  it("refuses an option of the other feed in one line", async () => {
    const file = join(dir, "trace-one.json");
    await writeFile(file, "{}");
    expect(await cli(["normalize", "--local-domains", "contoso.com", file])).toEqual({ code: 1, stdout: "", stderr: "audit-intake: --local-domains applies to --source message-trace\n" });
    expect((await cli(["normalize", "--source", "message-trace", "--tenant-names", "a=b", file])).stderr).toBe("audit-intake: --tenant-names applies to --source o365-audit\n");
    expect((await cli(["normalize", "--source", "audit", "--local-domains", "contoso.com", file])).stderr).toBe("audit-intake: --local-domains applies to --source message-trace\n");
  });

  it("reads the same with --source o365-audit, its alias audit, and no --source", async () => {
    const file = join(dir, "audit-records.json");
    await writeFile(file, '[{"Id":"a","Operation":"FileAccessed","CreationTime":"2026-01-01T00:00:00","OrganizationId":"11111111-2222-4333-8444-555555555555"},{broken}]');
    const args = ["--tenant-names", "11111111-2222-4333-8444-555555555555=contoso.onmicrosoft.com", file];
    const named = await cli(["normalize", "--source", "o365-audit", ...args]);
    expect(named.code).toBe(0);
    const docs = named.stdout.trim().split("\n").map((line) => JSON.parse(line) as Doc);
    expect(docs.map((doc) => doc.event.id ?? doc.event.kind)).toEqual(["a", "pipeline_error"]);
    expect(docs[0]!.organization?.name).toBe("contoso.onmicrosoft.com");
    // The pipeline_error's @timestamp (and event.ingested) is the time of the run: compared without it.
    const withoutTimes = (stdout: string) => stdout.replace(/"(@timestamp|ingested)":"[^"]*"/g, "");
    expect(withoutTimes((await cli(["normalize", "--source", "audit", ...args])).stdout)).toBe(withoutTimes(named.stdout));
    expect(withoutTimes((await cli(["normalize", ...args])).stdout)).toBe(withoutTimes(named.stdout));
  });

  it("refuses an unknown feed, naming the feeds it reads", async () => {
    const result = await cli(["normalize", "--source", "no-such-feed", join(dir, "none.json")]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain(`argument 'no-such-feed' is invalid. Allowed choices are ${[...normalizeFeeds(SOURCES).keys()].join(", ")}.`);
    expect(result.stderr).toMatch(/Allowed choices are o365-audit, audit, message-trace/);
  });

  it("lists every feed that normalize reads, with its input and options, in its help", async () => {
    const help = (await cli(["normalize", "--help"])).stdout.replace(/\s+/g, " ");
    expect(help).toContain("--source <feed> o365-audit (alias: audit): Management Activity API records;");
    for (const { name, offline } of SOURCES.flatMap((source) => (source.offline ? [{ name: source.name, offline: source.offline }] : []))) {
      expect(help).toContain(`${name}${offline.aliases ? ` (alias: ${offline.aliases.join(", ")})` : ""}: ${offline.input}`);
      for (const [option, { argument, description }] of Object.entries(offline.options)) expect(help).toContain(`--${option} ${argument} ${name}: ${description}`);
    }
  });

  it("shows no empty default for --tenant-names in its help", async () => {
    const result = await cli(["normalize", "--help"]);
    expect(result.stdout).toMatch(/--tenant-names <pairs>/);
    expect(result.stdout).not.toMatch(/default: \{\}/);
  });
});
