import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runLocalHost, type RunSummary } from "../../shared/local/host.js";
import { walk } from "../helpers/harness.js";

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
    expect(code).toBe(0);
    expect(summary.contentListed).toBeGreaterThan(100);
    expect(summary.enqueued).toBe(summary.contentListed);
    expect(summary.processed + summary.expired).toBe(summary.enqueued);
    expect(summary.failed + summary.poisoned + summary.rejectedMessages).toBe(0);
    expect(summary.recordsWritten).toBeGreaterThan(1000);
    expect(summary.output).toBe(join(cwd, "output"));
    const files = (await walk(join(cwd, "output"))).filter((f) => f.endsWith(".ndjson.gz"));
    expect(files.length).toBe(summary.processed);
    expect(lines.join("\n")).toMatch(/Management API simulator/);
    expect(lines.join("\n")).toMatch(/Summary written to/);
    expect(lines.join("\n")).not.toContain(process.env.O365_CLIENT_SECRET ?? "never-set");
  }, 180_000);

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
