import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterEach, inject } from "vitest";
import { parseSettings, type Settings } from "../../shared/config/settings.js";
import type { QueueSemantics } from "../../shared/config/hostJson.js";
import { QueuePoller } from "../../shared/local/queueHost.js";
import { createRuntime, type Runtime, type RuntimeOptions } from "../../shared/runtime.js";
import type { Simulator } from "../../shared/simulator/server.js";
import type { Logger, LogProperties } from "../../shared/util/log.js";
import { CLIENT_ID, SECRET } from "./simulator.js";

/** A clock both the simulator and the collector read, so tests can let hours pass in milliseconds. */
export class Clock {
  constructor(public ms: number) {}
  now = () => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface LogLine {
  level: "info" | "warn" | "error";
  message: string;
  properties: LogProperties | undefined;
}

export function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: LogLine["level"]) => (message: string, properties?: LogProperties) => void lines.push({ level, message, properties });
  return { lines, info: at("info"), warn: at("warn"), error: at("error") };
}

/** Queue semantics as in host.json, sized for tests: failed messages come back after 100 ms. */
export const TEST_SEMANTICS: QueueSemantics = {
  batchSize: 16,
  newBatchThreshold: 8,
  maxDequeueCount: 5,
  visibilityTimeoutMs: 100,
  maxPollingIntervalMs: 200,
  leaseMs: 60_000,
  base64: true,
};

let counter = 0;

/** Unique table, queue and output names per collector, so tests share one Azurite without meeting. */
export function isolatedEnv(): Record<string, string> {
  counter += 1;
  const id = `${process.pid.toString(36)}${Date.now().toString(36)}${counter}`.replace(/[^a-z0-9]/g, "").slice(-14);
  return { STATE_TABLE_PREFIX: `t${id}`, WORK_QUEUE: `q${id}`, OUTPUT_CONTAINER: `c${id}` };
}

export interface Collector {
  settings: Settings;
  runtime: Runtime;
  log: ReturnType<typeof recordingLogger>;
  outputDir: string;
  poller(semantics?: Partial<QueueSemantics>): QueuePoller;
  /** Runs the queue worker until the queue is empty (delayed messages included) and idle. */
  drain(semantics?: Partial<QueueSemantics>): Promise<QueuePoller>;
  /** Every output document's event.id (the record Id), in file order (one entry per written line). */
  outputIds(): Promise<string[]>;
  /** Every output document. */
  outputDocs(): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export async function collector(
  sim: Simulator,
  clock: Clock,
  env: Record<string, string>,
  shared?: { outputDir: string; names: Record<string, string> },
  options: Pick<RuntimeOptions, "meter" | "maxDequeueCount"> = {},
): Promise<Collector> {
  const outputDir = shared?.outputDir ?? (await mkdtemp(join(tmpdir(), "audit-intake-out-")));
  const settings = parseSettings({
    O365_CLIENT_ID: CLIENT_ID,
    O365_CLIENT_SECRET: SECRET,
    O365_API_BASE_URL: sim.apiBaseUrl,
    O365_LOGIN_BASE_URL: sim.loginBaseUrl,
    DataStorage: inject("azurite"),
    OUTPUT_KIND: "file",
    OUTPUT_DIR: outputDir,
    ...(shared?.names ?? isolatedEnv()),
    ...env,
  });
  // The runtime and its pollers agree on the last dequeue, as the app and the Functions host do through host.json.
  const maxDequeueCount = options.maxDequeueCount ?? TEST_SEMANTICS.maxDequeueCount;
  const runtime = await createRuntime(settings, { trustedCa: sim.ca, now: clock.now, sleep: async () => undefined, throttleBaseMs: 100, ...options, maxDequeueCount });
  const log = recordingLogger();
  const poller = (semantics: Partial<QueueSemantics> = {}) =>
    new QueuePoller(
      runtime.queue.client,
      runtime.storage.queues.getQueueClient(`${settings.workQueue}-poison`),
      { ...TEST_SEMANTICS, maxDequeueCount, ...semantics },
      async (payload, info) => {
        await runtime.handleMessage(payload, info.id, log, info.dequeueCount);
      },
      log,
    );
  const collected: Collector = {
    settings,
    runtime,
    log,
    outputDir,
    poller,
    async drain(semantics) {
      const p = poller(semantics);
      await p.ensure();
      const running = p.run();
      const drained = await p.drained(120_000);
      p.stop();
      await running;
      if (!drained) throw new Error("queue did not drain");
      return p;
    },
    async outputDocs() {
      const docs: Record<string, unknown>[] = [];
      for (const file of await walk(outputDir)) {
        if (!file.endsWith(".ndjson.gz")) continue;
        for (const line of gunzipSync(await readFile(file)).toString("utf8").split("\n")) if (line) docs.push(JSON.parse(line));
      }
      return docs;
    },
    async outputIds() {
      return (await collected.outputDocs()).map((doc) => (doc as { event: { id: string } }).event.id);
    },
    async close() {
      await runtime.close();
      if (!shared) await rm(outputDir, { recursive: true, force: true });
    },
  };
  return collected;
}

export async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Counts of each id; the test asserts every count is exactly 1. */
export function tally(ids: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** Registers an afterEach that runs the returned list's cleanups, last added first. */
export function cleanupAfterEach(): (() => Promise<void>)[] {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return cleanups;
}

/** What a promise rejected with; throws when it did not reject. */
export async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a failure");
}
