import { z } from "zod";
import { duration, flag, httpsUrl, ncrontab, optionalText } from "../../config/fields.js";
import { GUID } from "../../config/formats.js";
import { CLOUDS, CONTENT_TYPES, type ContentType } from "../../entra/clouds.js";
import { type EntraSettings, entraProblems, entraSettings, readEntra } from "../../entra/settings.js";

/** The audit feed's settings: the Entra app it authenticates as, and how it lists the Management Activity API. */

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

export const o365AuditSettings = {
  ...entraSettings,
  O365_AUDIT_ENABLED: flag(true),
  O365_API_BASE_URL: httpsUrl,
  O365_PUBLISHER_ID: optionalText.pipe(z.string().regex(GUID, "expected a GUID").optional()),
  O365_CONTENT_TYPES: contentTypes,
  O365_LIST_SCHEDULE: ncrontab("0 */5 * * * *"),
  O365_INITIAL_LOOKBACK: duration("6d23h55m", 60_000),
  O365_RELIST_OVERLAP: duration("1h"),
};

export interface O365AuditConfig {
  enabled: boolean;
  entra: EntraSettings;
  apiBaseUrl: string;
  publisherId: string | undefined;
  contentTypes: ContentType[];
  listSchedule: string;
  initialLookbackMs: number;
  relistOverlapMs: number;
}

type Parsed = { [K in keyof typeof o365AuditSettings]: z.output<(typeof o365AuditSettings)[K]> };

export function readO365Audit(values: Readonly<Record<string, unknown>>): O365AuditConfig {
  const v = values as Parsed;
  const entra = readEntra(values);
  return {
    enabled: v.O365_AUDIT_ENABLED,
    entra,
    apiBaseUrl: v.O365_API_BASE_URL ?? CLOUDS[entra.cloud].apiBaseUrl,
    publisherId: v.O365_PUBLISHER_ID?.toLowerCase(),
    contentTypes: v.O365_CONTENT_TYPES,
    listSchedule: v.O365_LIST_SCHEDULE,
    initialLookbackMs: v.O365_INITIAL_LOOKBACK,
    relistOverlapMs: v.O365_RELIST_OVERLAP,
  };
}

/** While the feed is on (its default), it needs the app registration. */
export function o365AuditProblems(env: Readonly<Record<string, string | undefined>>, label: (name: string) => string) {
  // On unless it says off: an unreadable value is its own setting's error, and the app registration is still checked.
  return o365AuditSettings.O365_AUDIT_ENABLED.safeParse(env.O365_AUDIT_ENABLED).data === false ? [] : entraProblems(env, label);
}
