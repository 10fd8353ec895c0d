import { z } from "zod";
import { O365_AUDIT_DATASET } from "./dataset.js";
import { GUID } from "../../config/formats.js";
import { withDataStream } from "../../ecs/document.js";
import { CONTENT_TYPES, type ContentType } from "../../entra/clouds.js";
import { UntrustedUrlError } from "../../http/errors.js";
import type { Logger } from "../../util/log.js";
import { ENTRA_SECRETS } from "../../entra/settings.js";
import type { Failure, Source, SourceSession, StreamRef, TimeWindow, Work } from "../source.js";
import type { ManagementApiClient } from "./client.js";
import { CONFIGURATION_FIXES, ManagementApiError } from "./errors.js";
import { type NormalizeContext, normalizeToLine } from "./normalize/normalize.js";
import { o365AuditOffline } from "./offline.js";
import type { ContentItem } from "./schemas.js";
import { type O365AuditConfig, o365AuditProblems, o365AuditSettings, readO365Audit } from "./settings.js";
import { assertFeedUrl } from "./urls.js";
import { planWindows } from "./windows.js";

/**
 * Microsoft 365 audit logs from the Office 365 Management Activity API: one stream per tenant and
 * content type; the lister lists available content blobs in ≤ 24 h windows, and each blob is a work item.
 */
/** What the worker needs beyond the envelope: the blob's URI (checked against the API host and tenant). */
const itemSchema = z.strictObject({ contentUri: z.url() });
export type O365AuditItem = z.infer<typeof itemSchema>;

const isContentType = (stream: string): stream is ContentType => (CONTENT_TYPES as readonly string[]).includes(stream);

export const o365AuditSource: Source<O365AuditConfig, O365AuditItem> = {
  name: "o365-audit",
  dataset: O365_AUDIT_DATASET,
  settingsPrefix: "O365_",
  secretSettings: ENTRA_SECRETS,
  settings: o365AuditSettings,
  scheduleSetting: "O365_LIST_SCHEDULE",
  problems: o365AuditProblems,
  configure: readO365Audit,
  enabled: (config) => config.enabled,
  schedule: (config) => config.listSchedule,
  item: itemSchema,
  async open(config, deps): Promise<SourceSession<O365AuditItem>> {
    // Loaded when the feed is opened, not with its definition: the registry is read by every command,
    // `normalize` too, and these bring @azure/identity (MSAL), undici and the storage SDKs (the claim's
    // table client); with them, importing the registry took ~560 ms instead of ~150 ms.
    const [{ createCredentialFactory }, { ManagementApiClient }, { auditRecordKey }, { streamRecords }] = await Promise.all([
      import("../../entra/auth.js"),
      import("./client.js"),
      import("./recordKey.js"),
      import("../../pipeline/records.js"),
    ]);
    const credentialFor = createCredentialFactory(config.entra, { requestTimeoutMs: deps.requestTimeoutMs, ...(deps.trustedCa ? { trustedCa: deps.trustedCa } : {}) });
    const common = {
      apiBaseUrl: config.apiBaseUrl,
      publisherId: config.publisherId,
      credentialFor,
      dispatcher: deps.dispatcher,
      gate: deps.gate,
      timeoutMs: deps.requestTimeoutMs,
      userAgent: deps.userAgent,
      onRequest: (event: { tenantId: string; contentType: string | undefined; operation: string; errorClass?: string | undefined }) =>
        deps.onRequest({ tenantId: event.tenantId, stream: event.contentType, operation: event.operation, throttled: event.errorClass === "throttled" }),
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
    };
    // The lister retries throttling in place; the worker waits out a short hold (a trip through the queue
    // costs more: whole-second visibility, a poll, a dequeue) and goes back on the queue for a long one.
    const listApi = new ManagementApiClient({ ...common, maxThrottleRetries: 5, maxTransientRetries: 4 });
    const contentApi = new ManagementApiClient({ ...common, maxThrottleRetries: 0, maxGateWaitMs: 5_000, maxTransientRetries: 3 });
    const context: NormalizeContext = { tenantNames: config.entra.tenantNames, preserveOriginal: false, now: deps.now, ...(deps.geoip ? { geoip: deps.geoip } : {}) };
    const map = withDataStream(O365_AUDIT_DATASET, deps.namespace);

    return {
      streams: () => config.entra.tenantIds.flatMap((tenantId) => config.contentTypes.map((stream) => ({ tenantId, stream }))),
      plan: (_ref, cursorMs, now) => planWindows({ now, cursor: cursorMs, initialLookbackMs: config.initialLookbackMs, relistOverlapMs: config.relistOverlapMs }),
      list: (ref, window, log) => listWork(listApi, ref, window, log),
      refuse(work) {
        // The tenant names the token requested for this message: only a tenant GUID is one of ours.
        if (!GUID.test(work.tenantId)) return "tenantId: expected a tenant GUID";
        if (!isContentType(work.stream)) return `stream: ${work.stream} is not a content type of the Management Activity API`;
        // Content the API no longer serves must be recorded as expired, not fetched forever.
        if (work.expires === undefined) return "expires: required: the content's expiration";
        try {
          assertFeedUrl(config.apiBaseUrl, work.tenantId, work.item.contentUri);
          return undefined;
        } catch (error) {
          return `item.contentUri: ${(error as Error).message}`;
        }
      },
      async fetch(work) {
        return streamRecords(await contentApi.openContent(work.tenantId, work.item.contentUri, work.stream as ContentType));
      },
      raw: (work) => contentApi.openContent(work.tenantId, work.item.contentUri, work.stream as ContentType),
      recordKey: auditRecordKey,
      toLine: (record, _work, text) => normalizeToLine(record, context, map, text),
      failure: auditFailure,
    };
  },
  offline: o365AuditOffline,
};

/**
 * Pages of one window's content as work items, starting the subscription when the API says there is
 * none (AF20022) or it is disabled (AF20023), then listing again. The first page is pulled here to
 * surface that error before anything is enqueued.
 */
async function* listWork(api: ManagementApiClient, ref: StreamRef, window: TimeWindow, log: Logger): AsyncGenerator<Work<O365AuditItem>[]> {
  const contentType = ref.stream as ContentType;
  let pages = api.listContent(ref.tenantId, contentType, window);
  let first: IteratorResult<ContentItem[]>;
  try {
    first = await pages.next();
  } catch (error) {
    if (!(error instanceof ManagementApiError) || error.errorClass !== "noSubscription") throw error;
    log.info("starting subscription", { tenantId: ref.tenantId, contentType, reason: error.code });
    await api.startSubscription(ref.tenantId, contentType);
    pages = api.listContent(ref.tenantId, contentType, window);
    first = await pages.next();
  }
  if (!first.done) yield first.value.map((item) => toWork(ref.tenantId, item));
  for await (const page of pages) yield page.map((item) => toWork(ref.tenantId, item));
}

function toWork(tenantId: string, item: ContentItem): Work<O365AuditItem> {
  return {
    tenantId,
    stream: item.contentType,
    workId: item.contentId,
    created: item.contentCreated,
    expires: item.contentExpiration,
    item: { contentUri: item.contentUri },
  };
}

const DEFAULT_FIXES: Partial<Record<string, string>> = {
  configuration: "check the app registration, its consent in this tenant, and O365_CLOUD",
  throttled: "nothing to change if it passes: the next run retries from the same cursor",
  transient: "nothing to change if it passes: the next run retries from the same cursor; if it persists, check the network path to the login and API hosts",
};

/** The Management Activity API's classes, in the pipeline's terms. */
function auditFailure(error: unknown): Failure | undefined {
  if (error instanceof UntrustedUrlError) return { errorClass: "fatal", fix: "a URL the API returned points elsewhere than its own host and tenant: report it", sent: false };
  if (!(error instanceof ManagementApiError)) return undefined;
  const errorClass = error.errorClass === "noSubscription" ? "configuration" : error.errorClass;
  return {
    errorClass,
    fix: (error.code && CONFIGURATION_FIXES[error.code]) ?? DEFAULT_FIXES[errorClass] ?? "the API answered in a way this version does not expect: report it with the error text",
    code: error.code ?? (error.status === undefined ? undefined : String(error.status)),
    retryAfterMs: error.retryAfterMs,
    sent: error.status !== undefined,
  };
}
