import { CronExpressionParser } from "cron-parser";
import { z } from "zod";
import { CLOUD_NAMES, CLOUDS, CONTENT_TYPES, type CloudName, type ContentType } from "../o365/clouds.js";
import { parseDuration } from "./duration.js";
import { GUID } from "./formats.js";

/**
 * Every app setting the code reads, in one schema, parsed once at start-up.
 * The keys are the contract shared by `local.settings.sample.json`, the Bicep app settings and the README.
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
        ctx.addIssue({ code: "custom", message: `expected a duration such as 90s, 5m, 1h or 6d23h55m, got "${text}"` });
        return z.NEVER;
      }
      if (ms < minimumMs) {
        ctx.addIssue({ code: "custom", message: `must be at least ${minimumMs} ms, got "${text}"` });
        return z.NEVER;
      }
      return ms;
    });

const positiveInt = (fallback: number, max: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback);

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
  if (bad.length > 0) ctx.addIssue({ code: "custom", message: `not tenant GUIDs: ${bad.join(", ")}` });
  return [...new Set(ids)];
});

const tenantNames = optionalText.transform((text, ctx) => {
  const names = new Map<string, string>();
  for (const pair of (text ?? "").split(",").map((p) => p.trim()).filter(Boolean)) {
    const [id, domain, ...rest] = pair.split("=").map((p) => p.trim());
    if (!id || !domain || rest.length > 0 || !GUID.test(id) || !DNS_NAME.test(domain)) {
      ctx.addIssue({ code: "custom", message: `expected tenantId=domain pairs, got "${pair}"` });
      continue;
    }
    names.set(id.toLowerCase(), domain.toLowerCase());
  }
  return names;
});

const contentTypes = z
  .string()
  .default(CONTENT_TYPES.join(","))
  .transform((text, ctx) => {
    const wanted = text.split(",").map((t) => t.trim()).filter(Boolean);
    const unknown = wanted.filter((t) => !(CONTENT_TYPES as readonly string[]).includes(t));
    if (unknown.length > 0 || wanted.length === 0) {
      ctx.addIssue({ code: "custom", message: `unknown content type(s) ${unknown.join(", ")}; allowed: ${CONTENT_TYPES.join(", ")}` });
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
    O365_CLOUD: z.enum(CLOUD_NAMES, { error: `expected one of ${CLOUD_NAMES.join(", ")}` }).default("commercial"),
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
    OUTPUT_KIND: z.enum(["blob", "file"], { error: "expected blob or file" }).default("blob"),
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

/**
 * Rules between settings, checked on the raw values so they are reported together with any
 * field errors (zod skips object refinements once a field has failed).
 */
function crossFieldProblems(env: Record<string, string | undefined>): { setting: string; message: string }[] {
  const set = (name: string) => Boolean(env[name]?.trim());
  const problems: { setting: string; message: string }[] = [];
  const authSettings = ["O365_CLIENT_SECRET", "O365_CLIENT_CERTIFICATE_PATH", "O365_CLIENT_CERTIFICATE", "O365_FEDERATED_IDENTITY_CLIENT_ID"];
  if (authSettings.filter(set).length !== 1) {
    problems.push({ setting: "O365_CLIENT_SECRET", message: `set exactly one of ${authSettings.join(", ")}` });
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

export class SettingsError extends Error {
  constructor(readonly problems: { setting: string; message: string }[]) {
    super(`Invalid settings:\n${problems.map((p) => `  - ${p.setting}: ${p.message}`).join("\n")}`);
    this.name = "SettingsError";
  }
}

/** The names the schema reads; a test checks them against local.settings.sample.json (and later the Bicep). */
export const SETTING_NAMES = Object.keys(settingsSchema.shape) as string[];

export function parseSettings(env: Record<string, string | undefined>): Settings {
  const parsed = settingsSchema.safeParse(env);
  const problems = [
    ...(parsed.success ? [] : parsed.error.issues.map((issue) => ({ setting: String(issue.path[0] ?? "settings"), message: issue.message }))),
    ...crossFieldProblems(env),
  ];
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
