import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEMO_TENANTS } from "../../shared/local/demo.js";
import { runLocalHost, type RunSummary } from "../../shared/local/host.js";
import { gunzipSync } from "node:zlib";
import { walk } from "../helpers/harness.js";

/** Each written record's own key: an audit record's Id; a message-trace row's (id, recipient, status); a Sophos row's record_identifier. */
async function outputIds(dir: string): Promise<string[]> {
  const ids: string[] = [];
  for (const file of (await walk(dir)).filter((f) => f.endsWith(".ndjson.gz"))) {
    for (const line of gunzipSync(await readFile(file)).toString("utf8").split("\n")) {
      if (!line) continue;
      const doc = JSON.parse(line) as { event: { id?: string }; microsoft?: { online_message_trace?: Record<string, string> }; sophos?: { xdr?: { record_identifier?: string } } };
      const trace = doc.microsoft?.online_message_trace;
      const sophos = doc.sophos?.xdr?.record_identifier;
      ids.push(trace ? `${trace.MessageTraceId}|${trace.RecipientAddress}|${trace.Status}` : sophos ? `sophos|${sophos}` : String(doc.event.id));
    }
  }
  return ids;
}

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function workdir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "audit-intake-host-"));
  dirs.push(dir);
  await copyFile(new URL("../../host.json", import.meta.url), join(dir, "host.json"));
  return dir;
}

describe("local host (npm start)", () => {
  it("with nothing configured, runs Azurite and the demo tenants once, drains, and writes a summary", async () => {
    const cwd = await workdir();
    const lines: string[] = [];
    const code = await runLocalHost({ cwd, env: {}, once: true, summaryJson: "summary.json", print: (l) => lines.push(l) });
    const summary = JSON.parse(await readFile(join(cwd, "summary.json"), "utf8")) as RunSummary;
    // One demo tenant lacks the message-trace service principal, on purpose: its stream is the one not listed.
    expect(code).toBe(1);
    expect(summary.workListed).toBeGreaterThan(100);
    expect(summary.enqueued).toBe(summary.workListed);
    expect(summary.processed + summary.expired).toBe(summary.enqueued);
    expect(summary.failed + summary.poisoned + summary.rejectedMessages).toBe(0);
    expect(summary.recordsWritten).toBeGreaterThan(1000);
    expect(summary.output).toBe(join(cwd, "output", "demo"));
    expect(summary.unlisted).toEqual([
      { source: "message-trace", tenantId: DEMO_TENANTS[2]?.id, stream: "MessageTrace", errorClass: "configuration", error: expect.stringMatching(/Service principal-less/), fix: expect.stringMatching(/New-MgServicePrincipal -AppId 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373/) },
    ]);
    // Every feed collected, each under its dataset.
    expect(Object.keys(summary.sources)).toEqual(["o365-audit", "message-trace", "sophos-xdr"]);
    expect(summary.sources["o365-audit"]?.recordsWritten).toBeGreaterThan(1000);
    expect(summary.sources["message-trace"]?.recordsWritten).toBeGreaterThan(100);
    expect(summary.sources["sophos-xdr"]?.recordsWritten).toBeGreaterThan(10);
    // Sophos's query runs took steps: submitted, then polled from the queue.
    expect(summary.sources["sophos-xdr"]?.continuedWork).toBeGreaterThanOrEqual(summary.sources["sophos-xdr"]!.processed);
    expect(Object.values(summary.sources).reduce((n, s) => n + s.recordsWritten, 0)).toBe(summary.recordsWritten);
    const datasets = new Set((await walk(join(cwd, "output", "demo"))).filter((f) => f.endsWith(".ndjson.gz")).map((f) => relative(join(cwd, "output", "demo"), f).split(sep)[0]));
    expect(datasets).toEqual(new Set(["o365.audit", "microsoft_exchange_online_message_trace.log", "sophos_central.xdr_ioc"]));
    // A file per processed item with records (a quiet message-trace window writes none).
    const files = (await walk(join(cwd, "output", "demo"))).filter((f) => f.endsWith(".ndjson.gz"));
    expect(files.length).toBeGreaterThan(summary.processed / 2);
    expect(files.length).toBeLessThanOrEqual(summary.processed);
    expect(lines.join("\n")).toMatch(/collecting from the simulator/);
    expect(lines.join("\n")).toMatch(/Summary written to/);
    expect(lines.join("\n")).not.toContain(process.env.O365_CLIENT_SECRET ?? "never-set");
  }, 180_000);

  it("restarts a demo stopped mid-collection with the content its queue refers to: no failures, nothing twice", async () => {
    const cwd = await workdir();
    const stop = new AbortController();
    const lines: string[] = [];
    // Stop the first run mid-collection: once /api/status shows a backlog on the queue.
    const watch = setInterval(() => {
      const url = lines.find((l) => l.startsWith("Status: "))?.slice("Status: ".length);
      if (!url || stop.signal.aborted) return;
      fetch(url)
        .then((r) => r.json() as Promise<{ totals: { backlog: number } }>)
        .then((status) => {
          if (status.totals.backlog >= 60) stop.abort(); // well above what the worker has in flight (batch 16 + 8), so some stay queued
        })
        .catch(() => undefined);
    }, 100);
    const first = await runLocalHost({ cwd, env: {}, once: true, summaryJson: "first.json", print: (l) => lines.push(l), signal: stop.signal });
    clearInterval(watch);
    const interrupted = JSON.parse(await readFile(join(cwd, "first.json"), "utf8")) as RunSummary;
    expect(first).toBe(143);
    expect(interrupted.stillQueued).toBeGreaterThan(0);
    expect(lines.join("\n")).toMatch(/stay queued; the next start collects them/);

    const again: string[] = [];
    const second = await runLocalHost({ cwd, env: {}, once: true, summaryJson: "second.json", print: (l) => again.push(l) });
    const resumed = JSON.parse(await readFile(join(cwd, "second.json"), "utf8")) as RunSummary;
    expect(again.join("\n")).not.toMatch(/new demo begins/);
    // Exit code 1 only for the demo tenant without the message-trace service principal.
    expect({ code: second, failed: resumed.failed, poisoned: resumed.poisoned, rejected: resumed.rejectedMessages, unlisted: resumed.unlistedStreams }).toEqual({ code: 1, failed: 0, poisoned: 0, rejected: 0, unlisted: 1 });
    expect(resumed.stillQueued).toBe(0);
    const ids = await outputIds(join(cwd, "output", "demo"));
    expect(ids.length).toBe(new Set(ids).size);
    expect(ids.length).toBe(interrupted.recordsWritten + resumed.recordsWritten);
  }, 240_000);

  it("exits non-zero and names every stream it could not list", async () => {
    const cwd = await workdir();
    const lines: string[] = [];
    const tenant = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    const code = await runLocalHost({
      cwd,
      env: {
        O365_TENANT_IDS: tenant,
        O365_CLIENT_ID: "5a0c3e71-2d9b-4c8f-a6e4-1f7b3d9c0e52",
        O365_CLIENT_SECRET: "not-a-real-secret-value",
        O365_CONTENT_TYPES: "Audit.Exchange,DLP.All",
        // Nothing answers here: every token request fails before any content is listed.
        O365_LOGIN_BASE_URL: "https://127.0.0.1:9",
        O365_API_BASE_URL: "https://127.0.0.1:9",
        REQUEST_TIMEOUT: "2s",
      },
      once: true,
      summaryJson: "summary.json",
      print: (l) => lines.push(l),
    });
    const summary = JSON.parse(await readFile(join(cwd, "summary.json"), "utf8")) as RunSummary;
    expect(code).toBe(1);
    expect(summary.unlistedStreams).toBe(2);
    expect(summary.unlisted.map((s) => s.stream).sort()).toEqual(["Audit.Exchange", "DLP.All"]);
    for (const stream of summary.unlisted) {
      expect(stream.tenantId).toBe(tenant);
      expect(stream.fix).not.toBe("");
    }
    expect(lines.join("\n")).toMatch(/Streams that could not be listed \(2\)/);
    expect(lines.join("\n")).not.toContain("not-a-real-secret-value");
  }, 120_000);

  it("starts Azurite for UseDevelopmentStorage=true, as every Azure tool reads it, and writes files the user finds", async () => {
    const cwd = await workdir();
    const lines: string[] = [];
    const code = await runLocalHost({
      cwd,
      // The audit feed alone (one content type): this is about storage, and exit code 0 needs every stream listed.
      env: { AzureWebJobsStorage: "UseDevelopmentStorage=true", DataStorage: "UseDevelopmentStorage=true", OUTPUT_KIND: "file", OUTPUT_DIR: "output", O365_CONTENT_TYPES: "DLP.All", MESSAGE_TRACE_ENABLED: "false", SOPHOS_ENABLED: "false" },
      once: true,
      summaryJson: "summary.json",
      print: (l) => lines.push(l),
    });
    const summary = JSON.parse(await readFile(join(cwd, "summary.json"), "utf8")) as RunSummary;
    expect(lines.join("\n")).toMatch(/UseDevelopmentStorage=true: (Azurite started on ports 10000-10002|using the storage emulator already running)/);
    expect(code).toBe(0);
    expect(summary.output).toBe(join(cwd, "output"));
    expect(summary.recordsWritten).toBeGreaterThan(0);
  }, 180_000);

  it("reports a mistyped setting before starting anything", async () => {
    const cwd = await workdir();
    const lines: string[] = [];
    const code = await runLocalHost({ cwd, env: { O365_TENANT_ID: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d" }, once: true, print: (l) => lines.push(l) });
    expect(code).toBe(2);
    expect(lines.join("\n")).toMatch(/O365_TENANT_ID\b.*O365_TENANT_IDS/);
    expect(lines.join("\n")).not.toMatch(/Azurite started|simulator/);
  });

  it("refuses to start on a bad setting, naming it", async () => {
    const cwd = await workdir();
    const lines: string[] = [];
    const code = await runLocalHost({
      cwd,
      env: { O365_TENANT_IDS: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", O365_CLIENT_ID: "nope", O365_CLIENT_SECRET: "s", DataStorage: "UseDevelopmentStorage=true" },
      once: true,
      print: (l) => lines.push(l),
    });
    expect(code).toBe(2);
    expect(lines.join("\n")).toMatch(/O365_CLIENT_ID: expected a GUID/);
  });
});
