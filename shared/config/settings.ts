import { CronExpressionParser } from "cron-parser";
import { z } from "zod";
import { CLOUD_NAMES, CLOUDS, CONTENT_TYPES, type CloudName, type ContentType } from "../entra/clouds.js";
import { parseDuration } from "./duration.js";
import { GUID } from "./formats.js";

/**
 * Every app setting the code reads, in one schema, parsed once at start-up.
 * The keys are the contract shared by `local.settings.sample.json`, the Bicep app settings and the README.
 * Check messages say what is expected and may name the offending part of a list; the setting's
 * value itself is appended to every problem (hidden for `SECRET_SETTINGS`), so no message quotes it.
 */

const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
const STORAGE_NAME = /^[a-z0-9]{3,24}$/;

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === "" ? undefined : value.trim()));

const duration = (fallback: string, minimumMs = 0) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined) {
        ctx.addIssue({ code: "custom", message: "expected a duration such as 90s, 5m, 1h or 6d23h55m" });
        return z.NEVER;
      }
      if (ms < minimumMs) {
        ctx.addIssue({ code: "custom", message: `expected at least ${minimumMs / 1_000}s` });
        return z.NEVER;
      }
      return ms;
    });

/** One check with one message: separate int/min/max checks would report 300.5 twice. */
const positiveInt = (fallback: number, max: number) => {
  const expected = `expected a whole number from 1 to ${max}`;
  return z.coerce
    .number({ error: expected })
    .refine((n) => Number.isInteger(n) && n >= 1 && n <= max, expected)
    .default(fallback);
};

const httpsUrl = optionalText.pipe(
  z
    .url({ protocol: /^https$/, error: "expected an https:// URL" })
    .transform((url) => url.replace(/\/+$/, ""))
    .optional(),
);

const tenantIds = z.string({ error: "required: comma-separated tenant GUIDs" }).transform((text, ctx) => {
  const ids = text
    .split(",")
    .map((id) => id.trim().toLowerCase())
    .filter(Boolean);
  const bad = ids.filter((id) => !GUID.test(id));
  if (ids.length === 0) ctx.addIssue({ code: "custom", message: "required: at least one tenant GUID" });
  if (bad.length > 0) ctx.addIssue({ code: "custom", message: `expected comma-separated tenant GUIDs (not GUIDs: ${bad.join(", ")})` });
  return [...new Set(ids)];
});

const tenantNames = optionalText.transform((text, ctx) => {
  const names = new Map<string, string>();
  const bad: string[] = [];
  for (const pair of (text ?? "").split(",").map((p) => p.trim()).filter(Boolean)) {
    const [id, domain, ...rest] = pair.split("=").map((p) => p.trim());
    if (!id || !domain || rest.length > 0 || !GUID.test(id) || !DNS_NAME.test(domain)) bad.push(JSON.stringify(pair));
    else names.set(id.toLowerCase(), domain.toLowerCase());
  }
  if (bad.length > 0) ctx.addIssue({ code: "custom", message: `expected comma-separated tenantId=domain pairs (not pairs: ${bad.join(", ")})` });
  return names;
});

const contentTypes = z
  .string()
  .default(CONTENT_TYPES.join(","))
  .transform((text, ctx) => {
    const wanted = text.split(",").map((t) => t.trim()).filter(Boolean);
    const unknown = wanted.filter((t) => !(CONTENT_TYPES as readonly string[]).includes(t));
    if (unknown.length > 0 || wanted.length === 0) {
      ctx.addIssue({ code: "custom", message: `expected any of ${CONTENT_TYPES.join(", ")}${unknown.length > 0 ? ` (unknown: ${unknown.join(", ")})` : ""}` });
    }
    return [...new Set(wanted)] as ContentType[];
  });

/** Azure Functions timers use NCRONTAB: six fields, seconds first. */
const ncrontab = z
  .string()
  .default("0 */5 * * * *")
  .refine((text) => text.trim().split(/\s+/).length === 6, "expected an NCRONTAB expression with six fields (seconds first), e.g. 0 */5 * * * *")
  .refine((text) => {
    try {
      CronExpressionParser.parse(text);
      return true;
    } catch {
      return false;
    }
  }, "not a valid NCRONTAB expression");

const storageName = (fallback: string) => z.string().default(fallback).pipe(z.string().regex(STORAGE_NAME, "expected 3-24 lowercase letters and digits"));

export const settingsSchema = z
  .object({
    O365_TENANT_IDS: tenantIds,
    O365_TENANT_NAMES: tenantNames,
    O365_CLIENT_ID: z.string({ error: "required: the application (client) ID of the app registration" }).regex(GUID, "expected a GUID"),
    O365_CLIENT_SECRET: optionalText,
    O365_CLIENT_CERTIFICATE_PATH: optionalText,
    O365_CLIENT_CERTIFICATE: optionalText.pipe(
      z.string().refine((pem) => /-----BEGIN CERTIFICATE-----/.test(pem) && /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(pem), "expected PEM text with the certificate and its private key").optional(),
    ),
    O365_CLIENT_CERTIFICATE_PASSWORD: optionalText,
    O365_FEDERATED_IDENTITY_CLIENT_ID: optionalText.pipe(z.string().regex(GUID, "expected the client ID (GUID) of a managed identity").optional()),
    O365_CLOUD: z.enum(CLOUD_NAMES).default("commercial"),
    O365_API_BASE_URL: httpsUrl,
    O365_LOGIN_BASE_URL: httpsUrl,
    O365_PUBLISHER_ID: optionalText.pipe(z.string().regex(GUID, "expected a GUID").optional()),
    O365_CONTENT_TYPES: contentTypes,
    O365_LIST_SCHEDULE: ncrontab,
    O365_INITIAL_LOOKBACK: duration("6d23h55m", 60_000),
    O365_RELIST_OVERLAP: duration("1h"),
    O365_LIST_CONCURRENCY: positiveInt(16, 256),
    O365_LIST_BUDGET: duration("4m", 10_000),
    O365_REQUEST_TIMEOUT: duration("60s", 1_000),
    O365_MAX_DOWNLOADS_PER_TENANT: positiveInt(16, 1_000),
    O365_CONTENT_QUEUE: z.string().default("o365-content").pipe(z.string().regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,55}[a-z0-9]$/, "expected a queue name: 3-57 lowercase letters, digits and single hyphens")),
    STATE_TABLE_PREFIX: storageName("o365"),
    OUTPUT_KIND: z.enum(["blob", "file"]).default("blob"),
    OUTPUT_CONTAINER: z.string().default("audit-ecs").pipe(z.string().regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, "expected a container name: 3-63 lowercase letters, digits and single hyphens")),
    OUTPUT_DIR: optionalText,
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
  });

export type SettingName = keyof typeof settingsSchema.shape;

/**
 * Settings whose values no message, log or status output may show. One name a line: a new secret
 * setting is one more line here.
 */
export const SECRET_SETTINGS: ReadonlySet<string> = new Set<SettingName>([
  "O365_CLIENT_SECRET",
  "O365_CLIENT_CERTIFICATE",
  "O365_CLIENT_CERTIFICATE_PASSWORD",
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
 * names (e.g. DataStorage__credential) that the Azure SDKs read.
 */
const SHARED_NAMESPACES = ["APPLICATIONINSIGHTS_", "AzureWebJobsStorage", "DataStorage"];

/**
 * Prefixes under which every name is expected to be a setting (O365_, STATE_, OUTPUT_, GEOIP_),
 * derived from the schema so that a feed's new settings bring their prefix with them.
 */
const OWN_PREFIXES = [
  ...new Set(
    SETTING_NAMES.filter((name) => !SHARED_NAMESPACES.some((namespace) => name.startsWith(namespace)))
      .map((name) => name.slice(0, name.indexOf("_") + 1).toUpperCase())
      .filter(Boolean),
  ),
];

/**
 * A name under one of our prefixes that the schema does not read is a typo (O365_TENANT_ID,
 * OUTPUT_KND, o365_tenant_ids): ignoring it would run with a default the operator meant to change.
 * Its value is never shown: a misspelt secret is still a secret.
 */
function unknownNames(env: Env): SettingsProblem[] {
  return Object.keys(env).flatMap((name) => {
    const prefix = OWN_PREFIXES.find((p) => name.toUpperCase().startsWith(p));
    if (!prefix || env[name] === undefined || SETTING_NAMES.includes(name)) return [];
    const suggestion = closestSetting(name);
    const hint = suggestion
      ? `did you mean ${suggestion}?`
      : `the ${prefix} settings are ${SETTING_NAMES.filter((s) => s.toUpperCase().startsWith(prefix)).join(", ")}`;
    return [{ setting: name, message: `not a setting; ${hint}` }];
  });
}

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
  const problems: SettingsProblem[] = [];
  const authSettings = ["O365_CLIENT_SECRET", "O365_CLIENT_CERTIFICATE_PATH", "O365_CLIENT_CERTIFICATE", "O365_FEDERATED_IDENTITY_CLIENT_ID"];
  const authSet = authSettings.filter(set);
  if (authSet.length !== 1) {
    problems.push({
      setting: "O365_CLIENT_SECRET",
      message: `set exactly one of ${authSettings.join(", ")}; ${authSet.length === 0 ? "none is set" : `set: ${authSet.map(label).join(", ")}`}`,
    });
  }
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
  tenantIds: string[];
  tenantNames: Map<string, string>;
  clientId: string;
  auth:
    | { kind: "secret"; secret: string }
    | { kind: "certificate"; path: string; password: string | undefined }
    /** The same, as PEM text (on Azure: a Key Vault reference), so no file has to be deployed. */
    | { kind: "certificateText"; pem: string; password: string | undefined }
    /** Secretless: a managed identity's token is the client assertion of the app registration. */
    | { kind: "federated"; managedIdentityClientId: string };
  cloud: CloudName;
  apiBaseUrl: string;
  loginBaseUrl: string;
  publisherId: string | undefined;
  contentTypes: ContentType[];
  listSchedule: string;
  initialLookbackMs: number;
  relistOverlapMs: number;
  listConcurrency: number;
  listBudgetMs: number;
  requestTimeoutMs: number;
  /** Content downloads of one tenant at once, per instance; past it a message goes back on the queue. */
  maxDownloadsPerTenant: number;
  contentQueue: string;
  tables: { cursors: string; ledger: string; records: string };
  output: { kind: "blob"; container: string } | { kind: "file"; dir: string };
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
  const e = parsed.data;
  const cloud = CLOUDS[e.O365_CLOUD];
  return {
    tenantIds: e.O365_TENANT_IDS,
    tenantNames: e.O365_TENANT_NAMES,
    clientId: e.O365_CLIENT_ID,
    auth: e.O365_CLIENT_SECRET
      ? { kind: "secret", secret: e.O365_CLIENT_SECRET }
      : e.O365_FEDERATED_IDENTITY_CLIENT_ID
        ? { kind: "federated", managedIdentityClientId: e.O365_FEDERATED_IDENTITY_CLIENT_ID }
        : e.O365_CLIENT_CERTIFICATE
          ? { kind: "certificateText", pem: e.O365_CLIENT_CERTIFICATE, password: e.O365_CLIENT_CERTIFICATE_PASSWORD }
          : { kind: "certificate", path: e.O365_CLIENT_CERTIFICATE_PATH as string, password: e.O365_CLIENT_CERTIFICATE_PASSWORD },
    cloud: e.O365_CLOUD,
    apiBaseUrl: e.O365_API_BASE_URL ?? cloud.apiBaseUrl,
    loginBaseUrl: e.O365_LOGIN_BASE_URL ?? cloud.loginBaseUrl,
    publisherId: e.O365_PUBLISHER_ID?.toLowerCase(),
    contentTypes: e.O365_CONTENT_TYPES,
    listSchedule: e.O365_LIST_SCHEDULE,
    initialLookbackMs: e.O365_INITIAL_LOOKBACK,
    relistOverlapMs: e.O365_RELIST_OVERLAP,
    listConcurrency: e.O365_LIST_CONCURRENCY,
    listBudgetMs: e.O365_LIST_BUDGET,
    requestTimeoutMs: e.O365_REQUEST_TIMEOUT,
    maxDownloadsPerTenant: e.O365_MAX_DOWNLOADS_PER_TENANT,
    contentQueue: e.O365_CONTENT_QUEUE,
    tables: {
      cursors: `${e.STATE_TABLE_PREFIX}cursors`,
      ledger: `${e.STATE_TABLE_PREFIX}ledger`,
      records: `${e.STATE_TABLE_PREFIX}records`,
    },
    output: e.OUTPUT_KIND === "file" ? { kind: "file", dir: e.OUTPUT_DIR as string } : { kind: "blob", container: e.OUTPUT_CONTAINER },
    geoip: { city: e.GEOIP_CITY_DB, asn: e.GEOIP_ASN_DB },
    appInsights: { connectionString: e.APPLICATIONINSIGHTS_CONNECTION_STRING, authentication: e.APPLICATIONINSIGHTS_AUTHENTICATION_STRING },
    storage: storageConnection(e),
  };
}

function storageConnection(e: z.output<typeof settingsSchema>): StorageConnection {
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
