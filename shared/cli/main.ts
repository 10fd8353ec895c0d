#!/usr/bin/env node
import { createReadStream } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import { openGeoIp } from "../ecs/geoip.js";
import { CONTENT_CHUNK_BYTES } from "../pipeline/records.js";
import { SOURCES } from "../sources/registry.js";
import { normalizeFeeds, normalizeStream } from "./normalizeFile.js";

/**
 * audit-intake's command line: `start` runs the Function app locally (what `npm start` calls),
 * `normalize` maps a feed's exported records to ECS without any Azure at all (each feed says how, in
 * its Source's `offline`), `redrive` puts messages of the poison queue back on the content queue.
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

/** What `normalize` reads without --source: the one feed it read before it read others, which existing scripts rely on. */
const DEFAULT_FEED = "o365-audit";

/** The feeds `normalize` reads, by every name --source takes; checked at startup (two feeds claiming one name or option). */
const feeds = normalizeFeeds(SOURCES);
if (!feeds.has(DEFAULT_FEED)) throw new Error(`normalize: the default feed ${DEFAULT_FEED} is not a feed of the registry with an offline mapping`);
const distinctFeeds = [...new Set(feeds.values())];

/** Each feed's own options, offered by `normalize` under the feed's name and refused with any other feed. */
const feedOptions = distinctFeeds.flatMap((feed) =>
  Object.entries(feed.offline.options).map(([name, option]) => ({
    feed,
    name,
    // No commander default: it would print as "(default: {})" in the help.
    option: new Option(`--${name} ${option.argument}`, `${feed.name}: ${option.description}`).argParser(asArgParser(option.parse)),
  })),
);

const normalize = program
  .command("normalize")
  .description(
    "read a feed's exported records (a JSON array, NDJSON, or JSON objects one after another) from FILE or stdin, write one ECS NDJSON line per record to stdout, same order; a record that is not valid JSON becomes a pipeline_error line",
  )
  .argument("[file]", "input file, or - for standard input", "-")
  .addOption(
    new Option("--source <feed>", distinctFeeds.map(({ name, offline }) => `${name}${offline.aliases?.length ? ` (alias: ${offline.aliases.join(", ")})` : ""}: ${offline.input}`).join("; "))
      .choices([...feeds.keys()])
      .default(DEFAULT_FEED),
  );
for (const { option } of feedOptions) normalize.addOption(option);
normalize
  .option("--preserve-original", "keep each raw record as event.original, tagged preserve_original_event")
  .option("--geoip-city <mmdb>", "MaxMind City database for source.geo (and destination.geo, for a feed that has destination.ip)")
  .option("--geoip-asn <mmdb>", "MaxMind ASN database for source.as (and destination.as, for a feed that has destination.ip)")
  .action(async (file: string, options: { source: string; preserveOriginal?: boolean; geoipCity?: string; geoipAsn?: string } & Record<string, unknown>) => {
    // Commander checked --source against the choices, which are the keys of `feeds`.
    const feed = feeds.get(options.source)!;
    const values: Record<string, unknown> = {};
    for (const { feed: owner, name, option } of feedOptions) {
      const value = options[option.attributeName()];
      if (value === undefined) continue;
      // An option of another feed would be ignored without a word: say so instead.
      if (owner !== feed) throw new Error(`--${name} applies to --source ${owner.name}`);
      values[name] = value;
    }
    process.stdout.on("error", stopOnClosedOutput);
    const input = file === "-" ? process.stdin : createReadStream(file, { highWaterMark: CONTENT_CHUNK_BYTES });
    const geoip = await openGeoIp({ city: options.geoipCity, asn: options.geoipAsn });
    const mapper = feed.offline.mapper(values, { preserveOriginal: options.preserveOriginal ?? false, now: Date.now, ...(geoip ? { geoip } : {}) });
    try {
      await normalizeStream(input, process.stdout, mapper);
    } catch (error) {
      if (error !== input.errored) throw error;
      throw new Error(`cannot read ${file === "-" ? "standard input" : file}: ${describeSystemError(error)}`);
    }
  });

/** A feed's parser of an option's text, whose error commander then shows as it shows a bad argument. */
function asArgParser<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
    }
  };
}

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
  .option("--source <feed>", "only this feed's messages (a feed's name, as `normalize --help` lists them)")
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

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`audit-intake: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
