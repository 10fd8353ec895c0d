#!/usr/bin/env node
import { createReadStream } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import { openGeoIp } from "../ecs/geoip.js";
import { normalizeMessageTraceStream, normalizeStream } from "./normalizeFile.js";

/**
 * audit-intake's command line: `start` runs the Function app locally (what `npm start` calls),
 * `normalize` maps raw audit records to ECS without any Azure at all, `redrive` puts messages of the
 * poison queue back on the content queue.
 */
const program = new Command()
  .name("audit-intake")
  .description("Microsoft 365 audit log intake: Management Activity API → ECS NDJSON")
  .showHelpAfterError();

program
  .command("start")
  .description("run the timer lister and the queue worker locally (embedded Azurite and the simulator when nothing is configured)")
  .option("--once", "one listing pass, drain the queue, print a summary and exit (non-zero if any content failed)")
  .option("--summary-json <path>", "also write the summary as JSON")
  .option("--verbose", "log every content blob, not only warnings and errors")
  .action(async (options: { once?: boolean; summaryJson?: string; verbose?: boolean }) => {
    // Loaded here so that `normalize` needs none of the Azure SDKs or dev tools.
    const { runLocalHost } = await import("../local/host.js");
    process.exitCode = await runLocalHost({
      cwd: process.cwd(),
      env: process.env,
      once: options.once ?? false,
      stopWithParent: true,
      verbose: options.verbose ?? false,
      ...(options.summaryJson ? { summaryJson: options.summaryJson } : {}),
    });
  });

/** The feeds `normalize` reads. */
const NORMALIZED_FEEDS = ["audit", "message-trace"] as const;

program
  .command("normalize")
  .description(
    "read raw records (a JSON array, NDJSON, or JSON objects one after another) from FILE or stdin, write one ECS NDJSON line per record to stdout, same order; a record that is not valid JSON becomes a pipeline_error line",
  )
  .argument("[file]", "input file, or - for standard input", "-")
  .addOption(
    new Option("--source <feed>", "audit: Management Activity API records; message-trace: Exchange Online message-trace rows (Graph or Reporting Web Service, saved pages unwrapped)")
      .choices(NORMALIZED_FEEDS)
      .default("audit"),
  )
  // No commander default: it would print as "(default: {})" in the help.
  .option("--tenant-names <pairs>", "audit: tenantId=domain pairs for organization.name / host.name", parsePairs)
  .option("--local-domains <domains>", "message-trace: the organization's mail domains, comma-separated, for email.direction and user.*", parseList)
  .option("--preserve-original", "keep each raw record as event.original, tagged preserve_original_event")
  .option("--geoip-city <mmdb>", "MaxMind City database for source.geo (message-trace: destination.geo too)")
  .option("--geoip-asn <mmdb>", "MaxMind ASN database for source.as (message-trace: destination.as too)")
  .action(async (file: string, options: { source: (typeof NORMALIZED_FEEDS)[number]; tenantNames?: Map<string, string>; localDomains?: string[]; preserveOriginal?: boolean; geoipCity?: string; geoipAsn?: string }) => {
    // An option of the other feed would be ignored without a word: say so instead.
    if (options.source === "audit" && options.localDomains) throw new Error("--local-domains applies to --source message-trace");
    if (options.source === "message-trace" && options.tenantNames) throw new Error("--tenant-names applies to --source audit");
    process.stdout.on("error", stopOnClosedOutput);
    const input = file === "-" ? process.stdin : createReadStream(file);
    const geoip = await openGeoIp({ city: options.geoipCity, asn: options.geoipAsn });
    const common = { preserveOriginal: options.preserveOriginal ?? false, now: Date.now, ...(geoip ? { geoip } : {}) };
    try {
      if (options.source === "message-trace") await normalizeMessageTraceStream(input, process.stdout, { ...common, localDomains: options.localDomains ?? [] });
      else await normalizeStream(input, process.stdout, { ...common, tenantNames: options.tenantNames ?? new Map<string, string>() });
    } catch (error) {
      if (error !== input.errored) throw error;
      throw new Error(`cannot read ${file === "-" ? "standard input" : file}: ${describeSystemError(error)}`);
    }
  });

/** `normalize … | head -1`: the reader took what it wanted and closed the pipe, which is no failure of ours. */
function stopOnClosedOutput(error: NodeJS.ErrnoException): void {
  if (error.code === "EPIPE") process.exit(0);
  process.stderr.write(`audit-intake: cannot write the output: ${error.message}\n`);
  process.exit(1);
}

/** Node words a system error as `ENOENT: no such file or directory, open 'x.json'`; the middle part reads best after the file's name. */
function describeSystemError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return /^[A-Z]+: (.+?), \w+(?: '.*')?$/.exec(message)?.[1] ?? message;
}

program
  .command("redrive")
  .description("move messages of <queue>-poison back to the work queue (all, or those of one feed / tenant / stream) and mark their ledger rows queued again")
  .option("--source <feed>", "only this feed's messages (o365-audit, message-trace)")
  .option("--tenant <id>", "only this tenant's messages", parseTenant)
  .option("--stream <name>", "only this stream's messages (a content type such as Audit.Exchange, MessageTrace)")
  .option("--dry-run", "count what would be re-driven, move nothing")
  .action(async (options: { source?: string; tenant?: string; stream?: string; dryRun?: boolean }) => {
    // Loaded here so that `normalize` needs none of the Azure SDKs.
    const { runRedrive } = await import("./redrive.js");
    process.exitCode = await runRedrive({
      cwd: process.cwd(),
      env: process.env,
      dryRun: options.dryRun ?? false,
      print: (line) => process.stdout.write(`${line}\n`),
      ...(options.source ? { source: options.source } : {}),
      ...(options.tenant ? { tenantId: options.tenant } : {}),
      ...(options.stream ? { stream: options.stream } : {}),
    });
  });

function parseTenant(text: string): string {
  if (!/^[A-Za-z0-9-]{1,64}$/.test(text)) throw new InvalidArgumentError(`expected a tenant id, got "${text}"`);
  return text;
}

function parseList(text: string): string[] {
  const items = text.split(",").map((item) => item.trim()).filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError(`expected comma-separated domains, got "${text}"`);
  return items;
}

function parsePairs(text: string): Map<string, string> {
  const pairs = new Map<string, string>();
  for (const pair of text.split(",").filter(Boolean)) {
    const [id, domain] = pair.split("=");
    if (!id || !domain) throw new InvalidArgumentError(`expected tenantId=domain pairs, got "${pair}"`);
    pairs.set(id.trim().toLowerCase(), domain.trim());
  }
  return pairs;
}

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`audit-intake: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
