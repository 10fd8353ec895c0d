import type { z } from "zod";
import { domainList, duration, flag, httpsUrl, ncrontab, positiveInt } from "../../config/fields.js";
import type { CloudName } from "../../entra/clouds.js";
import { type EntraSettings, entraProblems, entraSettings, readEntra } from "../../entra/settings.js";
import type { SettingsIssue } from "../source.js";

/** The message-trace feed's settings: the Entra app it authenticates as, and how it reads Graph's message trace. */

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** Graph's global service: the only deployment with message trace (see GRAPH_CLOUDS). */
export const GRAPH_GLOBAL_BASE_URL = "https://graph.microsoft.com";

/**
 * Which of our clouds reach message trace. "List messageTraces" is available in the Global service only,
 * not in US Government L4 or L5 (DOD) (learn.microsoft.com/graph/api/messagetracingroot-list-messagetraces,
 * its national cloud table). Microsoft 365 GCC keeps using the worldwide endpoint graph.microsoft.com; GCC High
 * is L4 (graph.microsoft.us) and DoD is L5 (dod-graph.microsoft.us) (learn.microsoft.com/graph/deployments).
 */
export const GRAPH_CLOUDS: Readonly<Record<CloudName, boolean>> = {
  commercial: true,
  gcc: true,
  "gcc-high": false,
  dod: false,
};

export const messageTraceSettings = {
  ...entraSettings,
  // Off by default: it needs ExchangeMessageTrace.Read.All and, in each tenant, the service principal of
  // Microsoft's app (see client.ts's SERVICE_PRINCIPAL_FIX).
  MESSAGE_TRACE_ENABLED: flag(false),
  MESSAGE_TRACE_SCHEDULE: ncrontab("0 */5 * * * *"),
  /** Windows end this far behind now: Graph lists a message a few minutes after it was received. */
  MESSAGE_TRACE_DELAY: duration("5m"),
  /** Re-read behind the cursor, for rows listed late and statuses that changed (claims drop the repeats). */
  MESSAGE_TRACE_OVERLAP: duration("1h"),
  /** How far back the first listing of a tenant reaches; Graph keeps 90 days. */
  MESSAGE_TRACE_INITIAL_LOOKBACK: duration("1d", MINUTE, 90 * DAY),
  /** The longest window of one work item; Graph takes at most 10 days per query. */
  MESSAGE_TRACE_WINDOW: duration("1h", MINUTE, 10 * DAY),
  /** The organization's own mail domains, for email.direction; each tenant's O365_TENANT_NAMES domain counts too. */
  MESSAGE_TRACE_LOCAL_DOMAINS: domainList,
  /** Graph's origin; a local simulator sets it. */
  MESSAGE_TRACE_GRAPH_BASE_URL: httpsUrl,
  /** `$top`: Graph's largest page costs the fewest requests of the tenant's quota. */
  MESSAGE_TRACE_PAGE_SIZE: positiveInt(5000, 5000),
};

export interface MessageTraceConfig {
  enabled: boolean;
  entra: EntraSettings;
  schedule: string;
  delayMs: number;
  overlapMs: number;
  initialLookbackMs: number;
  windowMs: number;
  localDomains: string[];
  graphBaseUrl: string;
  pageSize: number;
}

type Parsed = { [K in keyof typeof messageTraceSettings]: z.output<(typeof messageTraceSettings)[K]> };

export function readMessageTrace(values: Readonly<Record<string, unknown>>): MessageTraceConfig {
  const v = values as Parsed;
  return {
    enabled: v.MESSAGE_TRACE_ENABLED,
    entra: readEntra(values),
    schedule: v.MESSAGE_TRACE_SCHEDULE,
    delayMs: v.MESSAGE_TRACE_DELAY,
    overlapMs: v.MESSAGE_TRACE_OVERLAP,
    initialLookbackMs: v.MESSAGE_TRACE_INITIAL_LOOKBACK,
    windowMs: v.MESSAGE_TRACE_WINDOW,
    localDomains: v.MESSAGE_TRACE_LOCAL_DOMAINS,
    graphBaseUrl: v.MESSAGE_TRACE_GRAPH_BASE_URL ?? GRAPH_GLOBAL_BASE_URL,
    pageSize: v.MESSAGE_TRACE_PAGE_SIZE,
  };
}

/** While the feed is on, it needs the app registration, in a cloud whose Graph has message trace. */
export function messageTraceProblems(env: Readonly<Record<string, string | undefined>>, label: (name: string) => string): SettingsIssue[] {
  if (messageTraceSettings.MESSAGE_TRACE_ENABLED.safeParse(env.MESSAGE_TRACE_ENABLED).data !== true) return [];
  const problems = entraProblems(env, label);
  const cloud = env.O365_CLOUD?.trim() || "commercial";
  // An unknown name is the cloud setting's own error; only a known cloud without message trace is this feed's.
  if (Object.hasOwn(GRAPH_CLOUDS, cloud) && !GRAPH_CLOUDS[cloud as CloudName]) {
    const reaching = Object.entries(GRAPH_CLOUDS).filter(([, has]) => has).map(([name]) => name);
    problems.push({
      setting: "O365_CLOUD",
      message:
        `Graph message trace exists in Microsoft's global service only (${label("O365_CLOUD")} ${reaching.join(" or ")}), ` +
        `not in ${cloud}: set ${label("MESSAGE_TRACE_ENABLED")} to false`,
    });
  }
  return problems;
}
