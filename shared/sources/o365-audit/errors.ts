/**
 * The Management Activity API reports most failures as `{"error":{"code":"AFnnnnn","message":…}}`
 * and the HTTP status alone is misleading (throttling arrives as 403 AF429), so classification
 * reads the code first and falls back to the status.
 */
export type ErrorClass =
  | "throttled" // back off (Retry-After if given) and try again
  | "noSubscription" // start the subscription, then try again
  | "expired" // the content is gone: report, never retry
  | "badWindow" // the time window is out of the API's limits: recompute it
  | "configuration" // wrong tenant, permissions or app registration: surface once, do not retry
  | "transient" // 5xx, AF50000, network: retry with backoff
  | "notFound" // content that does not exist (AF20050)
  | "fatal"; // anything else: a bug or a contract change

const BY_CODE: Record<string, ErrorClass> = {
  AF429: "throttled",
  AF20022: "noSubscription",
  AF20023: "noSubscription",
  AF20051: "expired",
  AF20030: "badWindow",
  AF20055: "badWindow",
  AF10001: "configuration",
  AF20010: "configuration",
  AF20011: "configuration",
  AF20012: "configuration",
  AF20013: "configuration",
  AF20050: "notFound",
  AF50000: "transient",
};

/** What an operator should do about a configuration error; surfaced once in the log. */
export const CONFIGURATION_FIXES: Record<string, string> = {
  AF10001: "the app registration lacks ActivityFeed.Read (and ActivityFeed.ReadDlp for DLP.All), or admin consent was not granted in this tenant",
  AF20010: "the tenant in the URL does not match the token: check O365_TENANT_IDS and that the app is consented in that tenant",
  AF20011: "the tenant does not exist: check O365_TENANT_IDS",
  AF20012: "the tenant is not enabled for the Management Activity API: turn on unified audit logging",
  AF20013: "the tenant cannot use the API (it may be in the wrong cloud): check O365_CLOUD",
};

export class ManagementApiError extends Error {
  constructor(
    readonly errorClass: ErrorClass,
    readonly status: number | undefined,
    readonly code: string | undefined,
    message: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ManagementApiError";
  }
}

export function classify(status: number, code: string | undefined): ErrorClass {
  if (code && BY_CODE[code]) return BY_CODE[code];
  if (status === 429) return "throttled";
  if (status === 408 || status >= 500) return "transient";
  if (status === 401 || status === 403) return "configuration";
  if (status === 404) return "notFound";
  return "fatal";
}
