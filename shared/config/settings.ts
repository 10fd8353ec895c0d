import { z } from "zod";
import { DEFAULT_GZIP_LEVEL } from "../sinks/gzipWriter.js";
import { SOURCES } from "../sources/registry.js";
import { duration, httpsUrl, optionalText, positiveInt, STORAGE_NAME, storageName } from "./fields.js";
import { GUID } from "./formats.js";

/**
 * Every app setting the code reads, in one schema, parsed once at start-up: the pipeline's own, and
 * each feed's slice from the registry. The keys are the contract shared by `local.settings.sample.json`,
 * the Bicep app settings and the README. Check messages say what is expected and may name the offending
 * part of a list; the setting's value itself is appended to every problem (hidden for `SECRET_SETTINGS`),
 * so no message quotes it.
 */

const DATA_STREAM_NAMESPACE = /^[a-z0-9_]{1,100}$/;

/** The pipeline's settings: where work waits, state lives and documents go, and how hard it works. */
const pipelineSettings = {
  WORK_QUEUE: z.string().default("intake-work").pipe(z.string().regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,55}[a-z0-9]$/, "expected a queue name: 3-57 lowercase letters, digits and single hyphens")),
  WORK_MAX_PER_TENANT: positiveInt(16, 1_000),
  LIST_CONCURRENCY: positiveInt(16, 256),
  LIST_BUDGET: duration("4m", 10_000),
  REQUEST_TIMEOUT: duration("60s", 1_000),
  STATE_TABLE_PREFIX: storageName("intake"),
  OUTPUT_KIND: z.enum(["blob", "file"]).default("blob"),
  OUTPUT_CONTAINER: z.string().default("intake-ecs").pipe(z.string().regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, "expected a container name: 3-63 lowercase letters, digits and single hyphens")),
  OUTPUT_DIR: optionalText,
  // zlib's levels; 0 (stored) is not one, the output being .ndjson.gz.
  OUTPUT_GZIP_LEVEL: positiveInt(DEFAULT_GZIP_LEVEL, 9),
  // Elastic's rule for a data stream's namespace: lowercase, no '-' (it separates type-dataset-namespace).
  OUTPUT_NAMESPACE: z.string().default("default").pipe(z.string().regex(DATA_STREAM_NAMESPACE, "expected a data-stream namespace: lowercase letters, digits and underscores")),
  GEOIP_CITY_DB: optionalText,
  GEOIP_ASN_DB: optionalText,
  APPLICATIONINSIGHTS_CONNECTION_STRING: optionalText,
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: optionalText,
  AzureWebJobsStorage: optionalText,
  DataStorage: optionalText,
  DataStorage__accountName: optionalText.pipe(z.string().regex(STORAGE_NAME, "expected a storage account name").optional()),
  DataStorage__blobServiceUri: httpsUrl,
  DataStorage__queueServiceUri: httpsUrl,
  DataStorage__tableServiceUri: httpsUrl,
  DataStorage__clientId: optionalText.pipe(z.string().regex(GUID, "expected a GUID").optional()),
};

/** Feeds may share a slice (both Microsoft feeds read the Entra app's settings): the same names, the same checks. */
export const settingsSchema = z.object(Object.assign({}, ...SOURCES.map((source) => source.settings), pipelineSettings) as z.ZodRawShape);

export type SettingName = string;

/**
 * Settings whose values no message, log or status output may show. One name a line: a new secret
 * setting is one more line here.
 */
export const SECRET_SETTINGS: ReadonlySet<string> = new Set<string>([
  ...SOURCES.flatMap((source) => source.secretSettings),
  "AzureWebJobsStorage",
  "DataStorage",
  "APPLICATIONINSIGHTS_CONNECTION_STRING",
  "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
]);

/** The names the schema reads; tests check them against local.settings.sample.json, the Bicep and the README. */
export const SETTING_NAMES = Object.keys(settingsSchema.shape) as string[];

/**
 * Names the schema reads but whose namespace is not ours: App Service and the Functions host set
 * other APPLICATIONINSIGHTS_* names, and identity-based connections take `<connection>__<property>`
 * names (e.g. DataStorage__credential) that the Azure SDKs read. No name under them is a typo of ours.
 */
const SHARED_NAMESPACES = ["APPLICATIONINSIGHTS_", "AzureWebJobsStorage", "DataStorage"];

/**
 * Prefixes under which every name is ours: each feed's (O365_, MESSAGE_TRACE_) and the pipeline's
 * distinctive ones. Under the pipeline's plainer words (WORK_, LIST_, REQUEST_) a shell may well hold
 * names of its own (WORK_DIR, REQUEST_METHOD), so there only a near miss of a setting is a typo.
 */
const OWN_PREFIXES = [...new Set([...SOURCES.map((source) => source.settingsPrefix), "STATE_TABLE_", "OUTPUT_", "GEOIP_"])];

/** Names of earlier versions, and what they are called now. */
const RENAMED: Readonly<Record<string, string>> = {
  O365_CONTENT_QUEUE: "WORK_QUEUE",
  O365_MAX_DOWNLOADS_PER_TENANT: "WORK_MAX_PER_TENANT",
  O365_LIST_CONCURRENCY: "LIST_CONCURRENCY",
  O365_LIST_BUDGET: "LIST_BUDGET",
  O365_REQUEST_TIMEOUT: "REQUEST_TIMEOUT",
};

/**
 * A name under one of our prefixes that the schema does not read is a typo (O365_TENANT_ID,
 * OUTPUT_KND, o365_tenant_ids) or a name of an earlier version: ignoring it would run with a default
 * the operator meant to change. Its value is never shown: a misspelt secret is still a secret.
 */
function unknownNames(env: Env): SettingsProblem[] {
  return Object.keys(env).flatMap((name) => {
    if (env[name] === undefined || SETTING_NAMES.includes(name) || SHARED_NAMESPACES.some((namespace) => name.startsWith(namespace))) return [];
    const renamed = RENAMED[name.toUpperCase()];
    if (renamed) return [{ setting: name, message: `not a setting; renamed to ${renamed}` }];
    const prefix = OWN_PREFIXES.find((p) => name.toUpperCase().startsWith(p));
    const suggestion = closestSetting(name);
    if (!prefix) return suggestion && firstWord(suggestion) === firstWord(name.toUpperCase()) ? [{ setting: name, message: `not a setting; did you mean ${suggestion}?` }] : [];
    const hint = suggestion
      ? `did you mean ${suggestion}?`
      : `the ${prefix} settings are ${SETTING_NAMES.filter((s) => s.toUpperCase().startsWith(prefix)).join(", ")}`;
    return [{ setting: name, message: `not a setting; ${hint}` }];
  });
}

const firstWord = (name: string) => name.slice(0, name.indexOf("_") + 1);

/** The setting nearest to a misspelt name, if near enough to be the likely intent. */
function closestSetting(name: string): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of SETTING_NAMES) {
    const distance = editDistance(name.toUpperCase(), candidate.toUpperCase());
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(name.length / 3)) ? best.name : undefined;
}

/** Levenshtein distance; the names are short, so two rows of the table suffice. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** Enough of a value to recognise it; a pasted certificate or connection string need not fill the screen. */
const SHOWN_CHARACTERS = 60;

/** The operator sees what they set beside what was expected; of a secret, only that it is withheld. */
function withValue(setting: string, message: string, value: string | undefined): string {
  if (value === undefined) return message;
  if (SECRET_SETTINGS.has(setting)) return `${message} (value hidden)`;
  if (value.length <= SHOWN_CHARACTERS) return `${message}, got ${JSON.stringify(value)}`;
  return `${message}, got ${JSON.stringify(`${value.slice(0, SHOWN_CHARACTERS)}…`)} (${value.length} characters)`;
}

/** Zod's own wording for checks without a message of their own, in the settings' voice ("expected one of blob, file"). */
const readableIssue: z.core.$ZodErrorMap = (issue) => (issue.code === "invalid_value" ? `expected one of ${issue.values.join(", ")}` : undefined);

/**
 * Rules between settings, checked on the raw values so they are reported together with any
 * field errors (zod skips object refinements once a field has failed). `supplied` names are
 * filled in by the host, and said so, since the operator did not set them.
 */
function crossFieldProblems(env: Env, supplied: ReadonlySet<string>): SettingsProblem[] {
  const set = (name: string) => Boolean(env[name]?.trim());
  const label = (name: string) => (supplied.has(name) ? `${name} (supplied by the host)` : name);
  // Two feeds sharing a slice report its problems once.
  const seen = new Set<string>();
  const problems = SOURCES.flatMap((source) => source.problems?.(env, label) ?? []).filter((p) => !seen.has(`${p.setting}|${p.message}`) && seen.add(`${p.setting}|${p.message}`));
  if (env.OUTPUT_KIND?.trim() === "file" && !set("OUTPUT_DIR")) problems.push({ setting: "OUTPUT_DIR", message: "required when OUTPUT_KIND=file" });
  const byUri = set("DataStorage__blobServiceUri") && set("DataStorage__queueServiceUri") && set("DataStorage__tableServiceUri");
  if (!set("DataStorage") && !set("DataStorage__accountName") && !byUri && !set("AzureWebJobsStorage")) {
    problems.push({
      setting: "DataStorage",
      message: "set DataStorage (connection string), DataStorage__accountName, or the three DataStorage__*ServiceUri settings",
    });
  }
  return problems;
}

/** Stands in for a value the host fills in after validation; it only has to count as set. */
const SUPPLIED_BY_HOST = "(supplied by the host)";

/** Every problem at once, so one start-up attempt shows all there is to fix. */
function examine(env: Env, suppliedByHost: readonly string[]) {
  const supplied = new Set(suppliedByHost.filter((name) => !env[name]));
  const input: Env = { ...env, ...Object.fromEntries([...supplied].map((name) => [name, SUPPLIED_BY_HOST])) };
  const parsed = settingsSchema.safeParse(input, { error: readableIssue });
  const fieldProblems = (parsed.error?.issues ?? []).flatMap((issue) => {
    const setting = String(issue.path[0] ?? "settings");
    return supplied.has(setting) ? [] : [{ setting, message: withValue(setting, issue.message, env[setting]) }];
  });
  return { parsed, problems: [...unknownNames(env), ...fieldProblems, ...crossFieldProblems(input, supplied)] };
}

export type StorageConnection =
  | { kind: "connectionString"; connectionString: string }
  | { kind: "identity"; blobUrl: string; queueUrl: string; tableUrl: string; clientId: string | undefined };

export interface Settings {
  /** Each feed's own settings, by its name (read by the feed, opaque to the pipeline). */
  sources: ReadonlyMap<string, unknown>;
  /** Feeds switched on, in registry order. */
  enabledSources: string[];
  listConcurrency: number;
  listBudgetMs: number;
  requestTimeoutMs: number;
  /** Work items of one tenant of one feed at once, per instance; past it a message goes back on the queue. */
  maxWorkPerTenant: number;
  workQueue: string;
  tables: { cursors: string; ledger: string; records: string };
  output: ({ kind: "blob"; container: string } | { kind: "file"; dir: string }) & { gzipLevel: number };
  /** data_stream.namespace of every document. */
  namespace: string;
  /** MaxMind databases for source.geo / source.as; enrichment is off without them. */
  geoip: { city: string | undefined; asn: string | undefined };
  /** Application Insights; metrics and traces are exported only when a connection string is set. */
  appInsights: { connectionString: string | undefined; authentication: string | undefined };
  storage: StorageConnection;
}

type Env = Record<string, string | undefined>;

export interface SettingsProblem {
  setting: string;
  message: string;
}

export class SettingsError extends Error {
  constructor(readonly problems: SettingsProblem[]) {
    super(`Invalid settings:\n${problems.map((p) => `  - ${p.setting}: ${p.message}`).join("\n")}`);
    this.name = "SettingsError";
  }
}

/**
 * Checks the operator's settings before a host starts what it would otherwise fill them with (the
 * local host: Azurite, the simulator). `supplied` names the settings the host fills in when the
 * operator left them unset; they count as set, while a value the operator did set is checked.
 * Throws a `SettingsError` listing every problem, as `parseSettings` does.
 */
export function validateSettings(env: Env, options: { supplied?: readonly SettingName[] } = {}): void {
  const { problems } = examine(env, options.supplied ?? []);
  if (problems.length > 0) throw new SettingsError(problems);
}

export function parseSettings(env: Env): Settings {
  const { parsed, problems } = examine(env, []);
  if (!parsed.success || problems.length > 0) throw new SettingsError(problems);
  const values = parsed.data;
  const e = values as z.output<z.ZodObject<typeof pipelineSettings>>;
  const sources = new Map(SOURCES.map((source) => [source.name, source.configure(values)] as const));
  return {
    sources,
    enabledSources: SOURCES.filter((source) => source.enabled(sources.get(source.name))).map((source) => source.name),
    listConcurrency: e.LIST_CONCURRENCY,
    listBudgetMs: e.LIST_BUDGET,
    requestTimeoutMs: e.REQUEST_TIMEOUT,
    maxWorkPerTenant: e.WORK_MAX_PER_TENANT,
    workQueue: e.WORK_QUEUE,
    tables: {
      cursors: `${e.STATE_TABLE_PREFIX}cursors`,
      ledger: `${e.STATE_TABLE_PREFIX}ledger`,
      records: `${e.STATE_TABLE_PREFIX}records`,
    },
    output: { ...(e.OUTPUT_KIND === "file" ? { kind: "file", dir: e.OUTPUT_DIR as string } : { kind: "blob", container: e.OUTPUT_CONTAINER }), gzipLevel: e.OUTPUT_GZIP_LEVEL },
    namespace: e.OUTPUT_NAMESPACE,
    geoip: { city: e.GEOIP_CITY_DB, asn: e.GEOIP_ASN_DB },
    appInsights: { connectionString: e.APPLICATIONINSIGHTS_CONNECTION_STRING, authentication: e.APPLICATIONINSIGHTS_AUTHENTICATION_STRING },
    storage: storageConnection(e),
  };
}

function storageConnection(e: z.output<z.ZodObject<typeof pipelineSettings>>): StorageConnection {
  if (e.DataStorage) return { kind: "connectionString", connectionString: e.DataStorage };
  const account = e.DataStorage__accountName;
  const byUri = e.DataStorage__blobServiceUri && e.DataStorage__queueServiceUri && e.DataStorage__tableServiceUri;
  if (account || byUri) {
    return {
      kind: "identity",
      blobUrl: e.DataStorage__blobServiceUri ?? `https://${account}.blob.core.windows.net`,
      queueUrl: e.DataStorage__queueServiceUri ?? `https://${account}.queue.core.windows.net`,
      tableUrl: e.DataStorage__tableServiceUri ?? `https://${account}.table.core.windows.net`,
      clientId: e.DataStorage__clientId,
    };
  }
  return { kind: "connectionString", connectionString: e.AzureWebJobsStorage as string };
}
