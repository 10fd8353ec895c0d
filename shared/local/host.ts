import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import functions from "@azure/functions";
import { readQueueSemantics } from "../config/hostJson.js";
import { readLocalSettings } from "../config/localSettings.js";
import { parseSettings, SettingsError } from "../config/settings.js";
import { configureSharedRuntime, getRuntime, resetSharedRuntime, type RuntimeStats } from "../runtime.js";
import { consoleLogger, type Logger } from "../util/log.js";
import { startAzurite } from "./azurite.js";
import { startDemo } from "./demo.js";
import { startStatusServer } from "./statusServer.js";
import { runOnSchedule } from "./schedule.js";
import { Progress } from "./progress.js";
import { QueuePoller } from "./queueHost.js";

/**
 * `npm start`: the Function app without Azure Functions Core Tools. It calls the same handlers
 * the Functions host calls (functions/*.ts), on the timer's NCRONTAB schedule and with host.json's
 * queue semantics, against an embedded Azurite and, when no tenant is configured, the simulator.
 */
export interface LocalHostOptions {
  cwd: string;
  env: Record<string, string | undefined>;
  once: boolean;
  summaryJson?: string;
  verbose?: boolean;
  /** Safety stop for --once, should the queue never drain. */
  drainTimeoutMs?: number;
  print?: (line: string) => void;
}

/** What `--once` prints and `--summary-json` writes: the runtime's counters and what only the host knows. */
export interface RunSummary extends RuntimeStats {
  poisoned: number;
  listingRuns: number;
  durationMs: number;
  output: string;
}

export async function runLocalHost(options: LocalHostOptions): Promise<number> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const started = Date.now();
  const env: Record<string, string | undefined> = { ...(await readLocalSettings(options.cwd)), ...options.env };
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const storageConfigured = Boolean(env.AzureWebJobsStorage || env.DataStorage || env.DataStorage__accountName || env.DataStorage__queueServiceUri);
    if (!storageConfigured) {
      const location = join(options.cwd, ".local", "azurite");
      const azurite = await startAzurite({ location });
      cleanups.push(azurite.stop);
      env.AzureWebJobsStorage = azurite.connectionString;
      env.DataStorage ??= azurite.connectionString;
      print(`Azurite started (data in ${location})`);
    }
    let trustedCa: string | undefined;
    if (!env.O365_TENANT_IDS) {
      const demo = await startDemo();
      cleanups.push(demo.simulator.stop);
      Object.assign(env, demo.env);
      trustedCa = demo.simulator.ca;
      print(`No O365_TENANT_IDS: collecting from the Management API simulator at ${demo.simulator.apiBaseUrl} (3 demo tenants, light faults)`);
    }
    if (!storageConfigured && !env.OUTPUT_KIND) {
      env.OUTPUT_KIND = "file";
      env.OUTPUT_DIR ??= join(options.cwd, "output");
    }

    let settings;
    try {
      settings = parseSettings(env);
    } catch (error) {
      if (error instanceof SettingsError) {
        print(error.message);
        return 2;
      }
      throw error;
    }
    for (const [key, value] of Object.entries(env)) if (value !== undefined) process.env[key] = value;
    configureSharedRuntime(trustedCa ? { trustedCa } : {});
    cleanups.push(resetSharedRuntime);
    const runtime = await getRuntime();
    const { listContent, processContent } = await importHandlers();
    const log = consoleLogger(options.verbose ? "info" : "warn");
    const semantics = await readQueueSemantics(join(options.cwd, "host.json"));
    const poller = new QueuePoller(
      runtime.queue.client,
      runtime.storage.queues.getQueueClient(`${settings.contentQueue}-poison`),
      semantics,
      (payload, info) => processContent(payload, invocation("processContent", log, { id: info.id, dequeueCount: info.dequeueCount, insertionTime: info.insertedOn })),
      log,
    );
    await poller.ensure();
    const statusServer = await startStatusServer(() => runtime.status());
    cleanups.push(statusServer.close);
    print(`Output: ${runtime.sink.location}`);
    print(`Status: ${statusServer.url}`);
    print(`Listing ${settings.tenantIds.length} tenant(s) × ${settings.contentTypes.length} content type(s) on schedule "${settings.listSchedule}"${options.once ? " (once)" : ""}`);

    let phase = "listing";
    let listingRuns = 0;
    const progress = new Progress(runtime.stats, () => ({ poisoned: poller.poisoned, phase }));
    progress.start();
    const ticker = setInterval(() => progress.update(), 250);
    const list = async () => {
      phase = "listing";
      listingRuns += 1;
      try {
        await listContent({ isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: undefined as never }, invocation("listContent", log, {}));
      } catch (error) {
        log.error("listing run failed", { error: String(error) });
      }
      phase = options.once ? "draining" : "collecting";
      poller.wake();
    };

    const pollerDone = poller.run();
    let exitCode = 0;
    if (options.once) {
      await list();
      const drained = await poller.drained(options.drainTimeoutMs ?? 30 * 60_000);
      if (!drained) {
        log.error("the queue did not drain in time");
        exitCode = 1;
      }
    } else {
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      try {
        await runOnSchedule(settings.listSchedule, list, stop.signal);
      } finally {
        process.removeListener("SIGINT", onSignal);
        process.removeListener("SIGTERM", onSignal);
      }
    }
    poller.stop();
    await pollerDone;
    clearInterval(ticker);
    progress.stop();

    const summary: RunSummary = { ...runtime.stats, poisoned: poller.poisoned, listingRuns, durationMs: Date.now() - started, output: runtime.sink.location };
    printSummary(summary, print);
    if (options.summaryJson) {
      const path = resolve(options.cwd, options.summaryJson);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, `${JSON.stringify(summary, null, 2)}\n`);
      print(`Summary written to ${path}`);
    }
    if (summary.failed + summary.poisoned + summary.rejectedMessages > 0) exitCode = 1;
    return exitCode;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

/**
 * The handlers the Functions host would call. Outside the host, @azure/functions warns that it runs
 * in test mode and skips registration; that is expected here, so those two warnings are dropped.
 */
async function importHandlers() {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!/"@azure\/functions" package/.test(String(args[0]))) warn(...args);
  };
  try {
    const [{ listContent }, { processContent }] = await Promise.all([import("../../functions/listContent.js"), import("../../functions/processContent.js")]);
    return { listContent, processContent };
  } finally {
    console.warn = warn;
  }
}

function invocation(functionName: string, log: Logger, triggerMetadata: Record<string, unknown>) {
  return new functions.InvocationContext({
    functionName,
    invocationId: `${functionName}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    triggerMetadata,
    logHandler: (level, ...args) => {
      const line = args.map(String).join(" ");
      if (level === "error" || level === "critical") log.error(line);
      else if (level === "warning") log.warn(line);
      else log.info(line);
    },
  });
}

function printSummary(summary: RunSummary, print: (line: string) => void): void {
  print("");
  print("Summary");
  for (const [key, value] of Object.entries(summary)) print(`  ${key.padEnd(20)} ${value}`);
}
