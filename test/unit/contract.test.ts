import { readFile } from "node:fs/promises";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { hostJsonSchema } from "../../shared/config/hostJson.js";
import { parseSettings, SETTING_NAMES } from "../../shared/config/settings.js";
import { SOURCES } from "../../shared/sources/registry.js";
import type { SophosXdrConfig } from "../../shared/sources/sophos-xdr/settings.js";
import { auditConfig } from "../helpers/simulator.js";

/** Settings the Functions host itself reads (not our code): allowed in the sample, not in the schema. */
const HOST_ONLY_SETTINGS = ["FUNCTIONS_WORKER_RUNTIME"];

const registrations = vi.hoisted(() => ({ timer: [] as [string, Record<string, unknown>][], storageQueue: [] as [string, Record<string, unknown>][], http: [] as [string, Record<string, unknown>][] }));
vi.mock("@azure/functions", () => ({
  app: {
    timer: (name: string, options: Record<string, unknown>) => registrations.timer.push([name, options]),
    storageQueue: (name: string, options: Record<string, unknown>) => registrations.storageQueue.push([name, options]),
    http: (name: string, options: Record<string, unknown>) => registrations.http.push([name, options]),
  },
}));

async function json(path: string) {
  return JSON.parse(await readFile(new URL(`../../${path}`, import.meta.url), "utf8"));
}

describe("function registration matches host.json and the settings", () => {
  beforeEach(() => {
    registrations.timer.length = 0;
    registrations.storageQueue.length = 0;
    registrations.http.length = 0;
    vi.resetModules();
  });

  it("registers the audit feed's lister on the O365_LIST_SCHEDULE timer", async () => {
    await import("../../functions/list.js");
    const audit = registrations.timer.find(([name]) => name === "list-o365-audit");
    expect(audit).toBeDefined();
    const [, options] = audit!;
    expect(options).toMatchObject({ schedule: "%O365_LIST_SCHEDULE%", runOnStartup: false, useMonitor: true });
    expect(typeof options.handler).toBe("function");
  });

  it("registers one lister timer per registered feed, on the feed's own schedule setting", async () => {
    await import("../../functions/list.js");
    expect(registrations.timer.map(([name, options]) => [name, options.schedule])).toEqual(SOURCES.map((source) => [`list-${source.name}`, `%${source.scheduleSetting}%`]));
    // Each timer's %NAME% must be a setting the schema knows, or the host cannot start the function.
    expect(SETTING_NAMES).toEqual(expect.arrayContaining(SOURCES.map((source) => source.scheduleSetting)));
    // Function names: letters, digits, '-' and '_', starting with a letter, at most 127 characters.
    for (const [name] of registrations.timer) expect(name).toMatch(/^[A-Za-z][A-Za-z0-9_-]{0,126}$/);
  });

  it("registers the worker on the WORK_QUEUE queue of the DataStorage connection", async () => {
    await import("../../functions/processWork.js");
    expect(registrations.storageQueue).toHaveLength(1);
    const [name, options] = registrations.storageQueue[0]!;
    expect(name).toBe("processWork");
    expect(options).toMatchObject({ queueName: "%WORK_QUEUE%", connection: "DataStorage" });
    // %NAME% placeholders and the connection prefix must be settings the schema knows.
    expect(SETTING_NAMES).toEqual(expect.arrayContaining(["O365_LIST_SCHEDULE", "WORK_QUEUE", "DataStorage", "DataStorage__accountName"]));
  });

  it("serves GET /api/status behind a function key", async () => {
    await import("../../functions/status.js");
    const [name, options] = registrations.http[0]!;
    expect(name).toBe("status");
    expect(options).toMatchObject({ methods: ["GET"], authLevel: "function", route: "status" });
  });

  it("has a host.json whose queue settings the local host can honour", async () => {
    const host = hostJsonSchema.parse(await json("host.json"));
    expect(host.extensions.queues.messageEncoding).toBe("base64");
    expect(host.extensions.queues.maxDequeueCount).toBeGreaterThan(1);
    expect(host.functionTimeout).toBeGreaterThanOrEqual(5 * 60_000);
  });
});

describe("local.settings.sample.json", () => {
  it("lists exactly the settings the schema reads (plus the host's own)", async () => {
    const sample = Object.keys((await json("local.settings.sample.json")).Values as Record<string, string>);
    expect(sample.filter((k) => !HOST_ONLY_SETTINGS.includes(k)).sort()).toEqual([...SETTING_NAMES].sort());
  });

  it("parses once a secret is filled in, with the documented defaults as its values", async () => {
    const values = (await json("local.settings.sample.json")).Values as Record<string, string>;
    const settings = parseSettings({ ...values, O365_CLIENT_SECRET: "filled-in" });
    const defaults = parseSettings({ O365_TENANT_IDS: values.O365_TENANT_IDS, O365_CLIENT_ID: values.O365_CLIENT_ID, O365_CLIENT_SECRET: "x", DataStorage: "UseDevelopmentStorage=true" });
    for (const key of ["listConcurrency", "listBudgetMs", "requestTimeoutMs", "maxWorkPerTenant", "workQueue", "tables", "namespace", "enabledSources"] as const) {
      expect({ [key]: settings[key] }).toEqual({ [key]: defaults[key] });
    }
    const [audit, auditDefaults] = [auditConfig(settings), auditConfig(defaults)];
    for (const key of ["enabled", "listSchedule", "initialLookbackMs", "relistOverlapMs", "contentTypes"] as const) {
      expect({ [key]: audit[key] }).toEqual({ [key]: auditDefaults[key] });
    }
    expect(audit.entra.cloud).toEqual(auditDefaults.entra.cloud);
    // The Sophos feed, off in the sample with every setting shown at its default.
    const [sophos, sophosDefaults] = [settings.sources.get("sophos-xdr"), defaults.sources.get("sophos-xdr")] as SophosXdrConfig[];
    expect(sophos).toEqual(sophosDefaults);
    expect(sophos?.enabled).toBe(false);
    // The one local difference: output goes to files in output/, where a user finds it after the run,
    // not to a container of the emulator.
    expect(settings.output).toEqual({ kind: "file", dir: "output", gzipLevel: 5 });
  });
});

describe("README settings table", () => {
  it("documents exactly the settings the schema reads", async () => {
    const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("## Settings"), readme.indexOf("\n## ", readme.indexOf("## Settings") + 3));
    const documented = new Set<string>();
    for (const row of section.split("\n").filter((line) => line.startsWith("| `"))) {
      const firstCell = row.split("|")[1] ?? "";
      for (const name of firstCell.matchAll(/`([A-Za-z0-9_]+)`/g)) documented.add(name[1] as string);
    }
    expect([...documented].sort()).toEqual([...SETTING_NAMES].sort());
  });
});
