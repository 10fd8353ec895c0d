import { readLocalSettings } from "../config/localSettings.js";
import { parseSettings, SettingsError } from "../config/settings.js";
import { ContentQueue } from "../pipeline/contentQueue.js";
import { redrivePoison, type RedriveFilter, type RedriveReport } from "../pipeline/poison.js";
import { ContentLedger } from "../state/ledger.js";
import { createStorageClients } from "../state/storage.js";

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
  const storage = createStorageClients(settings.storage);
  const queue = new ContentQueue(storage.queues.getQueueClient(settings.contentQueue));
  const filter: RedriveFilter = {
    ...(options.tenantId ? { tenantId: options.tenantId } : {}),
    ...(options.contentType ? { contentType: options.contentType } : {}),
  };
  const report = await redrivePoison(filter, {
    poison: storage.queues.getQueueClient(`${settings.contentQueue}-poison`),
    send: (message) => queue.send(message),
    ledger: new ContentLedger(storage.table(settings.tables.ledger)),
    apiBaseUrl: settings.apiBaseUrl,
    now: Date.now,
    dryRun: options.dryRun,
  });
  printReport(report, `${settings.contentQueue}-poison`, options.print);
  return 0;
}

function printReport(report: RedriveReport, poisonQueue: string, print: (line: string) => void): void {
  const verb = report.dryRun ? "would re-drive" : "re-driven";
  print(`${poisonQueue}${report.dryRun ? " (dry run: nothing moved)" : ""}`);
  for (const s of report.streams) print(`  ${s.tenantId} ${s.contentType.padEnd(26)} ${verb} ${s.redriven}, left ${s.left}`);
  for (const m of report.invalid) print(`  invalid message ${m.messageId} (left in the queue): ${m.reason}`);
  print(`Total: ${verb} ${report.totals.redriven}, left ${report.totals.left}, invalid ${report.totals.invalid}`);
}
