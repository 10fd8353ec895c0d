import { metrics } from "@opentelemetry/api";
import { readLocalSettings } from "../config/localSettings.js";
import { parseSettings, SettingsError } from "../config/settings.js";
import { redrivePoison, type RedriveFilter, type RedriveReport } from "../pipeline/poison.js";
import { createRuntime } from "../runtime.js";
import { SOURCES } from "../sources/registry.js";

/**
 * `audit-intake redrive`: wires `redrivePoison` to the app's own storage, from the same settings
 * the app reads (environment variables, over local.settings.json in `cwd` when there is one).
 */
export interface RedriveCommandOptions extends RedriveFilter {
  cwd: string;
  env: Record<string, string | undefined>;
  dryRun: boolean;
  print: (line: string) => void;
}

/** Returns the exit code: 0 when the run went through, 2 on bad settings. */
export async function runRedrive(options: RedriveCommandOptions): Promise<number> {
  let settings;
  try {
    settings = parseSettings({ ...(await readLocalSettings(options.cwd)), ...options.env });
  } catch (error) {
    if (error instanceof SettingsError) {
      options.print(error.message);
      return 2;
    }
    throw error;
  }
  if (options.source && !SOURCES.some((source) => source.name === options.source)) {
    options.print(`--source: unknown feed ${options.source} (known: ${SOURCES.map((source) => source.name).join(", ")})`);
    return 2;
  }
  // The runtime opens the enabled feeds (no request is sent): their checks decide which messages are ours.
  const runtime = await createRuntime(settings, { meter: metrics.getMeter("audit-intake-redrive") });
  try {
    const filter: RedriveFilter = {
      ...(options.source ? { source: options.source } : {}),
      ...(options.tenantId ? { tenantId: options.tenantId } : {}),
      ...(options.stream ? { stream: options.stream } : {}),
    };
    const poisonQueue = `${settings.workQueue}-poison`;
    const report = await redrivePoison(filter, {
      poison: runtime.storage.queues.getQueueClient(poisonQueue),
      send: (message) => runtime.queue.send(message),
      ledger: runtime.ledger,
      feedOf: runtime.feedOf,
      now: Date.now,
      dryRun: options.dryRun,
    });
    printReport(report, poisonQueue, options.print);
    return 0;
  } finally {
    await runtime.close();
  }
}

function printReport(report: RedriveReport, poisonQueue: string, print: (line: string) => void): void {
  const verb = report.dryRun ? "would re-drive" : "re-driven";
  print(`${poisonQueue}${report.dryRun ? " (dry run: nothing moved)" : ""}`);
  for (const s of report.streams) print(`  ${s.source} ${s.tenantId} ${s.stream.padEnd(26)} ${verb} ${s.redriven}, left ${s.left}`);
  for (const m of report.invalid) print(`  invalid message ${m.messageId} (left in the queue): ${m.reason}`);
  print(`Total: ${verb} ${report.totals.redriven}, left ${report.totals.left}, invalid ${report.totals.invalid}`);
}
