import { once } from "node:events";
import { mkdir, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { dirname, join, resolve } from "node:path";
import functions from "@azure/functions";
import { readQueueSemantics } from "../config/hostJson.js";
import { readLocalSettings } from "../config/localSettings.js";
import { parseSettings, SETTING_NAMES, SettingsError, validateSettings } from "../config/settings.js";
import { configureSharedRuntime, getRuntime, resetSharedRuntime, type RuntimeStats, type UnlistedStream } from "../runtime.js";
import { consoleLogger, type Logger } from "../util/log.js";
import { connectionString, DEVELOPMENT_PORTS, startAzurite } from "./azurite.js";
import { DEMO_DEFAULTS, DEMO_SETTINGS, DEMO_STORAGE_NAMES, DEMO_YIELDS, isDemo, prepareDemo, startDemo } from "./demo.js";
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
  /** Stops the run as SIGTERM would (tests; the CLI relies on the real signals). */
  signal?: AbortSignal;
  /**
   * Stop as on SIGTERM when the parent process goes. `npm start` runs the host under npm and a shell,
   * and npm 11 exits on SIGTERM without passing it on (what a container runtime or process manager
   * sends to npm, its main process), which would leave the host and its Azurite running orphaned.
   */
  stopWithParent?: boolean;
}

/** What `--once` prints and `--summary-json` writes: the runtime's counters and what only the host knows. */
export interface RunSummary extends RuntimeStats {
  /** The same counters per feed. */
  sources: Record<string, RuntimeStats>;
  poisoned: number;
  /** Streams whose last listing failed (each is in `unlisted`); any makes the exit code 1. */
  unlistedStreams: number;
  /** Messages left on the queue when the run ended (a stopped run leaves them for the next start). */
  stillQueued: number;
  listingRuns: number;
  durationMs: number;
  output: string;
  unlisted: UnlistedStream[];
}

export async function runLocalHost(options: LocalHostOptions): Promise<number> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const started = Date.now();
  const env: Record<string, string | undefined> = { ...(await readLocalSettings(options.cwd)), ...options.env };
  const localDir = join(options.cwd, ".local");
  const storage = storageMode(env);
  const demo = isDemo(env);

  // Everything the operator set is checked before anything starts; what the host fills in counts as set.
  try {
    const checked = demo ? Object.fromEntries(Object.entries(env).filter(([name]) => !(DEMO_YIELDS as readonly string[]).includes(name))) : env;
    validateSettings(checked, { supplied: [...(storage === "configured" ? [] : STORAGE_SETTINGS), ...(demo ? DEMO_SETTINGS : [])] });
  } catch (error) {
    if (error instanceof SettingsError) {
      print(error.message);
      return 2;
    }
    throw error;
  }

  // From here a SIGINT or SIGTERM stops the run cleanly: no new work, in-flight work finished, every
  // process this host started stopped. A second signal stops at once.
  const stop = new AbortController();
  const stopped = new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve(), { once: true }));
  let stopSignal: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) {
      print(`${signal} again: stopping now`);
      void runCleanups().finally(() => process.exit(128 + (signal === "SIGINT" ? 2 : 15)));
      return;
    }
    stopSignal = signal;
    print(`\n${signal}: finishing the work in flight, then stopping (${signal} again stops at once)`);
    stop.abort();
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  if (options.signal) options.signal.addEventListener("abort", () => onSignal("SIGTERM"), { once: true });
  const parent = process.ppid;
  const parentWatch = options.stopWithParent
    ? setInterval(() => {
        if (process.ppid !== parent && !stop.signal.aborted) {
          print("the parent process is gone (npm stopped without passing the signal on)");
          onSignal("SIGTERM");
        }
      }, 1_000).unref()
    : undefined;

  const cleanups: (() => Promise<void>)[] = [];
  const runCleanups = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  try {
    let trustedCa: string | undefined;
    const demoState = demo ? await prepareDemo(localDir) : undefined;
    if (demoState?.renewed) print(`Demo: a new demo begins (${demoState.renewed}); its earlier state was cleared`);
    let ownStorage = false;
    if (storage !== "configured") {
      const started = await startStorage(storage, demoState?.azuriteLocation ?? join(localDir, "azurite"));
      if (started.stop) cleanups.push(started.stop);
      ownStorage = started.stop !== undefined;
      for (const name of ["AzureWebJobsStorage", "DataStorage"] as const) {
        if (!env[name]?.trim() || DEVELOPMENT_STORAGE.test(env[name] as string)) env[name] = started.connectionString;
      }
      print(started.description);
    }
    if (demo && !ownStorage) {
      // Storage the demo does not own (configured, or an emulator already running): it keeps to names of
      // its own there, apart from real state.
      for (const [name, value] of Object.entries(DEMO_STORAGE_NAMES)) env[name] ??= value;
    }
    if (demoState) {
      const simulator = await startDemo(demoState);
      cleanups.push(simulator.simulator.stop);
      for (const name of [...DEMO_SETTINGS, ...DEMO_YIELDS]) delete env[name];
      Object.assign(env, simulator.env);
      for (const [name, value] of Object.entries(DEMO_DEFAULTS)) env[name] ??= value;
      trustedCa = simulator.simulator.ca;
      print(`Nothing configured: collecting from the simulator at ${simulator.simulator.apiBaseUrl} (${simulator.description})`);
    }
    if (storage !== "configured" && !env.OUTPUT_KIND) {
      env.OUTPUT_KIND = "file";
      env.OUTPUT_DIR ??= demo ? join("output", "demo") : "output";
    }
    // A relative output folder is the project's, wherever the process was started from.
    if (env.OUTPUT_DIR) env.OUTPUT_DIR = resolve(options.cwd, env.OUTPUT_DIR);

    const settings = parseSettings(env);
    // The runtime reads process.env, as on Azure: it gets exactly this run's settings, none left by an earlier run.
    for (const name of SETTING_NAMES) if (env[name] === undefined) delete process.env[name];
    for (const [key, value] of Object.entries(env)) if (value !== undefined) process.env[key] = value;
    configureSharedRuntime({ signal: stop.signal, ...(trustedCa ? { trustedCa } : {}) });
    cleanups.push(resetSharedRuntime);
    const runtime = await getRuntime();
    const { listSource, processWork } = await importHandlers();
    const log = consoleLogger(options.verbose ? "info" : "warn");
    const semantics = await readQueueSemantics(join(options.cwd, "host.json"));
    const poller = new QueuePoller(
      runtime.queue.client,
      runtime.storage.queues.getQueueClient(`${settings.workQueue}-poison`),
      semantics,
      (payload, info) => processWork(payload, invocation("processWork", log, { id: info.id, dequeueCount: info.dequeueCount, insertionTime: info.insertedOn })),
      log,
    );
    await poller.ensure();
    const statusServer = await startStatusServer(() => runtime.status());
    cleanups.push(statusServer.close);
    print(`Output: ${runtime.sink.location}`);
    print(`Status: ${statusServer.url}`);
    const feeds = [...runtime.feeds.values()];
    if (feeds.length === 0) print("No feed is enabled: nothing to list (the worker still takes queued work)");
    for (const { source, session } of feeds) {
      // A feed that finds its tenants through its API may fail to here; its listing then reports why.
      const streams = await Promise.resolve(session.streams()).then((found) => `${found.length} stream(s)`, () => "its streams (not found yet)");
      print(`Listing ${source.name}: ${streams} on schedule "${source.schedule(settings.sources.get(source.name))}"${options.once ? " (once)" : ""}`);
    }

    let phase = "listing";
    let listingRuns = 0;
    let listing = 0;
    const progress = new Progress(runtime.stats, runtime.statsBySource, () => ({ poisoned: poller.poisoned, phase }));
    progress.start();
    const ticker = setInterval(() => progress.update(), 250);
    const list = (name: string) => async () => {
      phase = "listing";
      listing += 1;
      listingRuns += 1;
      try {
        await listSource(name)({ isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: undefined as never }, invocation(`list-${name}`, log, {}));
      } catch (error) {
        log.error("listing run failed", { source: name, error: String(error) });
      }
      listing -= 1;
      if (listing === 0) phase = options.once ? "draining" : "collecting";
      poller.wake();
    };

    const pollerDone = poller.run();
    let exitCode = 0;
    if (options.once) {
      await Promise.all(feeds.map(({ source }) => list(source.name)()));
      const drained = await Promise.race([poller.drained(options.drainTimeoutMs ?? 30 * 60_000), stopped.then(() => undefined)]);
      if (drained === false) {
        log.error("the queue did not drain in time");
        exitCode = 1;
      }
    } else {
      // Each feed on its own schedule, as each has its own timer on Azure.
      await Promise.all(feeds.map(({ source }) => runOnSchedule(source.schedule(settings.sources.get(source.name)), list(source.name), stop.signal)));
    }
    phase = "stopping";
    poller.stop();
    await pollerDone;
    clearInterval(ticker);
    progress.stop();

    const { approximateMessagesCount: stillQueued = 0 } = await runtime.queue.client.getProperties().catch(() => ({ approximateMessagesCount: undefined }));
    const unlisted = [...runtime.unlisted.values()];
    const summary: RunSummary = {
      ...runtime.stats,
      sources: Object.fromEntries(runtime.statsBySource),
      poisoned: poller.poisoned,
      unlistedStreams: unlisted.length,
      stillQueued,
      listingRuns,
      durationMs: Date.now() - started,
      output: runtime.sink.location,
      unlisted,
    };
    printSummary(summary, print);
    if (stopSignal && stillQueued > 0) print(`${stillQueued} message(s) stay queued; the next start collects them`);
    if (options.summaryJson) {
      const path = resolve(options.cwd, options.summaryJson);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, `${JSON.stringify(summary, null, 2)}\n`);
      print(`Summary written to ${path}`);
    }
    if (summary.failed + summary.poisoned + summary.rejectedMessages + summary.unlistedStreams > 0) exitCode = 1;
    // A one-off run that was stopped did not do its work: say so the way shells do.
    if (options.once && stopSignal) exitCode = 128 + (stopSignal === "SIGINT" ? 2 : 15);
    return exitCode;
  } catch (error) {
    if (error instanceof SettingsError) {
      print(error.message);
      return 2;
    }
    throw error;
  } finally {
    for (const signal of SIGNALS) process.removeListener(signal, onSignal);
    clearInterval(parentWatch);
    await runCleanups();
  }
}

const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM"];
/** What every Azure tool takes `UseDevelopmentStorage=true` to mean: the emulator on its development ports. */
const DEVELOPMENT_STORAGE = /^\s*UseDevelopmentStorage\s*=\s*true\s*;?\s*$/i;
const STORAGE_SETTINGS = ["AzureWebJobsStorage", "DataStorage"] as const;
/**
 * Where state lives: storage the operator configured; `UseDevelopmentStorage=true`, which means the
 * emulator on its development ports (one already running there, or the embedded one started on them);
 * or nothing at all, which gets the embedded Azurite on free ports.
 */
type StorageMode = "configured" | "development" | "embedded";

function storageMode(env: Record<string, string | undefined>): StorageMode {
  const values = [env.AzureWebJobsStorage, env.DataStorage].map((v) => v?.trim()).filter(Boolean) as string[];
  if (values.some((v) => DEVELOPMENT_STORAGE.test(v))) return "development";
  const identity = ["DataStorage__accountName", "DataStorage__blobServiceUri", "DataStorage__queueServiceUri", "DataStorage__tableServiceUri"].some((n) => env[n]?.trim());
  return values.length > 0 || identity ? "configured" : "embedded";
}

async function startStorage(mode: Exclude<StorageMode, "configured">, location: string): Promise<{ connectionString: string; description: string; stop?: () => Promise<void> }> {
  if (mode === "development") {
    const listening = await Promise.all(Object.values(DEVELOPMENT_PORTS).map(portAnswers));
    if (listening.every(Boolean)) {
      return { connectionString: connectionString(DEVELOPMENT_PORTS), description: "UseDevelopmentStorage=true: using the storage emulator already running on ports 10000-10002" };
    }
    if (listening.some(Boolean)) {
      throw new SettingsError([{ setting: "DataStorage", message: "UseDevelopmentStorage=true, but only some of the emulator's ports 10000-10002 answer: stop whatever holds them, or start Azurite with all three services" }]);
    }
    const azurite = await startAzurite({ location, ports: DEVELOPMENT_PORTS });
    return { ...azurite, description: `UseDevelopmentStorage=true: Azurite started on ports 10000-10002 (data in ${location})` };
  }
  const azurite = await startAzurite({ location });
  return { ...azurite, description: `Azurite started (data in ${location})` };
}

async function portAnswers(port: number): Promise<boolean> {
  const socket = connect({ port, host: "127.0.0.1" });
  try {
    await Promise.race([once(socket, "connect"), once(socket, "error").then(([error]) => Promise.reject(error))]);
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
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
    const [{ listSource }, { processWork }] = await Promise.all([import("../../functions/list.js"), import("../../functions/processWork.js")]);
    return { listSource, processWork };
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
  const { unlisted, sources, ...counts } = summary;
  const names = Object.keys(sources);
  // One column per feed beside the total, for the counters a feed has.
  print(`  ${"".padEnd(20)} ${"total".padStart(10)}${names.map((name) => name.padStart(Math.max(14, name.length + 2))).join("")}`);
  for (const [key, value] of Object.entries(counts)) {
    const perFeed = names.map((name) => {
      const own = (sources[name] as unknown as Record<string, unknown>)[key];
      return (own === undefined ? "" : String(own)).padStart(Math.max(14, name.length + 2));
    });
    print(`  ${key.padEnd(20)} ${String(value).padStart(10)}${perFeed.join("")}`);
  }
  if (unlisted.length > 0) {
    print("");
    print(`Streams that could not be listed (${unlisted.length}):`);
    for (const s of unlisted) print(`  ${s.source} ${s.tenantId} ${s.stream}: ${s.errorClass}: ${s.error}\n    fix: ${s.fix}`);
  }
}
