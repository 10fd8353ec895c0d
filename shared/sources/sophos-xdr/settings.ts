import { z } from "zod";
import { duration, flag, httpsUrl, ncrontab, optionalText, positiveInt } from "../../config/fields.js";
import { GUID } from "../../config/formats.js";
import type { SettingsIssue } from "../source.js";

/**
 * The Sophos Central XDR feed's settings: one API credential (a tenant's, or a partner's or an
 * organization's, which reaches every tenant it manages), an optional allow-list of tenants, and how
 * the Data Lake is queried.
 */
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** Kept between the oldest window start and the lookback's limit (at most half the lookback): the source plans with it. */
export const REACH_MARGIN_MS = 60 * MINUTE;

const tenantAllowList = optionalText.transform((text, ctx) => {
  const ids = [...new Set((text ?? "").split(",").map((id) => id.trim().toLowerCase()).filter(Boolean))];
  const bad = ids.filter((id) => !GUID.test(id));
  if (bad.length > 0) ctx.addIssue({ code: "custom", message: `expected comma-separated Sophos tenant ids (GUIDs; not GUIDs: ${bad.join(", ")})` });
  return ids;
});

/** `ioc_detection_weight > {threshold}`: Sophos weighs detections 0 to 10. */
const threshold = z.coerce
  .number({ error: "expected a whole number from 0 to 10" })
  .refine((n) => Number.isInteger(n) && n >= 0 && n <= 10, "expected a whole number from 0 to 10")
  .default(3);

export const sophosXdrSettings = {
  // Off by default: it needs a Sophos Central API credential.
  SOPHOS_ENABLED: flag(false),
  SOPHOS_CLIENT_ID: optionalText,
  SOPHOS_CLIENT_SECRET: optionalText,
  /** Only these tenants of a partner or organization credential (default: every tenant it manages). */
  SOPHOS_TENANT_IDS: tenantAllowList,
  /** Detections above this weight (Sekoia's choice: 3). */
  SOPHOS_THRESHOLD: threshold,
  SOPHOS_SCHEDULE: ncrontab("0 */5 * * * *"),
  /** Windows end this far behind now: the Data Lake ingests detections with a lag. */
  SOPHOS_DELAY: duration("5m"),
  /** Re-read behind the cursor, for rows the Data Lake ingests late (claims drop the repeats). */
  SOPHOS_OVERLAP: duration("30m"),
  /**
   * How far back the first run reads, and the furthest back any window starts: the Data Lake keeps 30 days
   * (news.sophos.com, 2021); up to 90 for a tenant whose licence keeps more.
   */
  SOPHOS_LOOKBACK: duration("30d", MINUTE, 90 * DAY),
  /** The longest window one query run covers. */
  SOPHOS_WINDOW: duration("1d", MINUTE, 7 * DAY),
  /** Rows per results page (the Data Lake's largest: 2000). */
  SOPHOS_PAGE_SIZE: positiveInt(2000, 2000),
  /** Between two polls of a running query. */
  SOPHOS_POLL_INTERVAL: duration("20s", 1_000),
  /** A run not finished after this long is submitted again (runs expire after about two hours). */
  SOPHOS_MAX_RUN_WAIT: duration("30m", MINUTE, 110 * MINUTE),
  /** Sophos ID's and the global API's origins; a local simulator sets them. */
  SOPHOS_ID_BASE_URL: httpsUrl,
  SOPHOS_API_BASE_URL: httpsUrl,
};

/** Never shown in a message, a log or status. */
export const SOPHOS_SECRETS = ["SOPHOS_CLIENT_SECRET"] as const;

export interface SophosXdrConfig {
  enabled: boolean;
  clientId: string;
  clientSecret: string;
  tenantAllowList: string[];
  threshold: number;
  schedule: string;
  delayMs: number;
  overlapMs: number;
  lookbackMs: number;
  windowMs: number;
  pageSize: number;
  pollIntervalMs: number;
  maxRunWaitMs: number;
  idBaseUrl: string | undefined;
  apiBaseUrl: string | undefined;
}

type Parsed = { [K in keyof typeof sophosXdrSettings]: z.output<(typeof sophosXdrSettings)[K]> };

export function readSophosXdr(values: Readonly<Record<string, unknown>>): SophosXdrConfig {
  const v = values as Parsed;
  return {
    enabled: v.SOPHOS_ENABLED,
    clientId: v.SOPHOS_CLIENT_ID ?? "",
    clientSecret: v.SOPHOS_CLIENT_SECRET ?? "",
    tenantAllowList: v.SOPHOS_TENANT_IDS,
    threshold: v.SOPHOS_THRESHOLD,
    schedule: v.SOPHOS_SCHEDULE,
    delayMs: v.SOPHOS_DELAY,
    overlapMs: v.SOPHOS_OVERLAP,
    lookbackMs: v.SOPHOS_LOOKBACK,
    windowMs: v.SOPHOS_WINDOW,
    pageSize: v.SOPHOS_PAGE_SIZE,
    pollIntervalMs: v.SOPHOS_POLL_INTERVAL,
    maxRunWaitMs: v.SOPHOS_MAX_RUN_WAIT,
    idBaseUrl: v.SOPHOS_ID_BASE_URL,
    apiBaseUrl: v.SOPHOS_API_BASE_URL,
  };
}

/** While the feed is on, it needs its credential, and timings that can plan a window and poll a run before it expires. */
export function sophosXdrProblems(env: Readonly<Record<string, string | undefined>>): SettingsIssue[] {
  if (sophosXdrSettings.SOPHOS_ENABLED.safeParse(env.SOPHOS_ENABLED).data !== true) return [];
  const problems: SettingsIssue[] = (["SOPHOS_CLIENT_ID", "SOPHOS_CLIENT_SECRET"] as const)
    .filter((name) => !env[name]?.trim())
    .map((name) => ({ setting: name, message: `required while SOPHOS_ENABLED is true: the ${name === "SOPHOS_CLIENT_ID" ? "client ID" : "client secret"} of a Sophos Central API credential` }));
  // Each read as its own setting reads it (default included); an unreadable one is its own setting's error.
  const ms = (name: "SOPHOS_LOOKBACK" | "SOPHOS_DELAY" | "SOPHOS_POLL_INTERVAL" | "SOPHOS_MAX_RUN_WAIT") => sophosXdrSettings[name].safeParse(env[name]).data;
  const [lookback, delay, poll, wait] = [ms("SOPHOS_LOOKBACK"), ms("SOPHOS_DELAY"), ms("SOPHOS_POLL_INTERVAL"), ms("SOPHOS_MAX_RUN_WAIT")];
  if (lookback !== undefined && delay !== undefined && lookback - Math.min(REACH_MARGIN_MS, lookback / 2) <= delay) {
    problems.push({ setting: "SOPHOS_LOOKBACK", message: `must reach further back than SOPHOS_DELAY plus the reach's margin (${Math.min(REACH_MARGIN_MS, lookback / 2) / 60_000} min), or no window is ever planned` });
  }
  if (poll !== undefined && wait !== undefined && poll >= wait) {
    problems.push({ setting: "SOPHOS_POLL_INTERVAL", message: "must be shorter than SOPHOS_MAX_RUN_WAIT, or every run is given up before its first poll" });
  }
  return problems;
}
