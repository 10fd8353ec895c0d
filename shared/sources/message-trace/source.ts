import { z } from "zod";
import { ApiError, type ApiErrorClass, UntrustedUrlError } from "../../http/errors.js";
import { ENTRA_SECRETS } from "../../entra/settings.js";
import { windowWorkId } from "../../pipeline/windows.js";
import { apiFailure } from "../failure.js";
import type { Failure, Source, SourceSession, TimeWindow, Work } from "../source.js";
import type { MessageTraceClient } from "./client.js";
import { MESSAGE_TRACE_DATASET, type MessageTraceContext, normalizeMessageTraceToLine } from "./normalize.js";
import { messageTraceOffline } from "./offline.js";
import { MAX_AGE_MS, MAX_QUERY_MS, planMessageTraceWindows } from "./plan.js";
import { type MessageTraceConfig, messageTraceProblems, messageTraceSettings, readMessageTrace } from "./settings.js";
import { graphBudget, MESSAGE_TRACE_STREAM } from "./stream.js";

/** A window of received times, both ends included (Graph's `ge`/`le`), as ISO text. */
const itemSchema = z
  .strictObject({ start: z.iso.datetime(), end: z.iso.datetime() })
  .refine(({ start, end }) => Date.parse(start) < Date.parse(end), { message: "start must be before end", path: ["end"] })
  .refine(({ start, end }) => Date.parse(end) - Date.parse(start) <= MAX_QUERY_MS, { message: "Graph answers at most 10 days per query", path: ["end"] });
export type MessageTraceItem = z.infer<typeof itemSchema>;

function windowWork(tenantId: string, window: TimeWindow): Work<MessageTraceItem> {
  const start = new Date(window.start).toISOString();
  return {
    tenantId,
    stream: MESSAGE_TRACE_STREAM,
    workId: windowWorkId(window),
    created: start,
    // Graph keeps 90 days: a window still queued past that is lost at the source, and the worker says so.
    expires: new Date(window.start + MAX_AGE_MS).toISOString(),
    item: { start, end: new Date(window.end).toISOString() },
  };
}

/** The probe's window: the last minute the plan would reach, always inside Graph's limits. */
const PROBE_MS = 60_000;

/**
 * Exchange Online message trace from Microsoft Graph: one stream per tenant; each listing window is one
 * work item, whose rows the worker reads page by page. The lister sends Graph one request per tenant and
 * listing (`verify`: one row of the last minute), so that a tenant Graph refuses (no service principal, no
 * consent) is reported once by the lister with its fix and gets no work queued, as the audit feed's does;
 * every other request is the worker's, within the tenant's budget of the 100 per 5 minutes.
 */
export const messageTraceSource: Source<MessageTraceConfig, MessageTraceItem> = {
  name: "message-trace",
  dataset: MESSAGE_TRACE_DATASET,
  settingsPrefix: "MESSAGE_TRACE_",
  secretSettings: ENTRA_SECRETS,
  settings: messageTraceSettings,
  scheduleSetting: "MESSAGE_TRACE_SCHEDULE",
  problems: messageTraceProblems,
  configure: readMessageTrace,
  enabled: (config) => config.enabled,
  schedule: (config) => config.schedule,
  requestBudget: graphBudget,
  item: itemSchema,
  async open(config, deps): Promise<SourceSession<MessageTraceItem>> {
    // Loaded when the feed is opened, not with its definition, as the audit feed's are: undici,
    // @azure/identity (MSAL) and the claim's storage SDKs are no cost of reading the registry.
    const [{ createCredentialFactory }, { MessageTraceClient }, { messageTraceRecordKey }] = await Promise.all([
      import("../../entra/auth.js"),
      import("./client.js"),
      import("./recordKey.js"),
    ]);
    // The worker's client: it waits out a short hold at the tenant's gate and goes back on the queue for a
    // longer one or a 429, rather than holding its slot.
    const common = {
      graphBaseUrl: config.graphBaseUrl,
      credentialFor: createCredentialFactory(config.entra, { requestTimeoutMs: deps.requestTimeoutMs, ...(deps.trustedCa ? { trustedCa: deps.trustedCa } : {}) }),
      dispatcher: deps.dispatcher,
      timeoutMs: deps.requestTimeoutMs,
      gate: deps.gate,
      userAgent: deps.userAgent,
      onRequest: deps.onRequest,
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
    };
    const client = new MessageTraceClient({ ...common, maxGateWaitMs: 5_000, maxThrottleRetries: 0, maxTransientRetries: 3, pageSize: config.pageSize });
    // The lister's probe waits at the gate and retries a throttled answer in place, as the audit feed's lister does.
    const probe = new MessageTraceClient({ ...common, maxThrottleRetries: 2, maxTransientRetries: 2, pageSize: 1 });
    const contexts = new Map<string, MessageTraceContext>();
    /** A tenant's own domain (O365_TENANT_NAMES) is local mail too, beside MESSAGE_TRACE_LOCAL_DOMAINS. */
    const contextOf = (tenantId: string): MessageTraceContext => {
      let context = contexts.get(tenantId);
      if (!context) {
        const own = config.entra.tenantNames.get(tenantId.toLowerCase());
        context = {
          localDomains: [...new Set([...config.localDomains, ...(own ? [own] : [])])],
          namespace: deps.namespace,
          now: deps.now,
          preserveOriginal: false,
          ...(deps.geoip ? { geoip: deps.geoip } : {}),
        };
        contexts.set(tenantId, context);
      }
      return context;
    };

    return {
      streams: () => config.entra.tenantIds.map((tenantId) => ({ tenantId, stream: MESSAGE_TRACE_STREAM })),
      plan: (_ref, cursorMs, now) =>
        planMessageTraceWindows({
          now,
          cursorMs,
          delayMs: config.delayMs,
          overlapMs: config.overlapMs,
          initialLookbackMs: config.initialLookbackMs,
          windowMs: config.windowMs,
        }),
      async verify(ref, now) {
        const end = Math.floor((now - config.delayMs) / 1000) * 1000;
        const pages = probe.listMessageTraces(ref.tenantId, { start: end - PROBE_MS, end });
        await pages.next();
        await pages.return(undefined);
      },
      async *list(ref, window) {
        yield [windowWork(ref.tenantId, window)];
      },
      // The item schema holds Graph's limits on one query; the window's age is its expiry.
      refuse: () => undefined,
      async fetch(work) {
        return rows(client, work);
      },
      recordKey: messageTraceRecordKey,
      toLine: (row, work) => normalizeMessageTraceToLine(row, contextOf(work.tenantId)),
      failure: messageTraceFailure,
    };
  },
  offline: messageTraceOffline,
};

async function* rows(client: MessageTraceClient, work: Work<MessageTraceItem>): AsyncGenerator<readonly unknown[]> {
  const window = { start: Date.parse(work.item.start), end: Date.parse(work.item.end) };
  yield* client.listMessageTraces(work.tenantId, window);
}

/** What an operator reads for an error Graph's answer came without a fix for. */
const DEFAULT_FIXES: Readonly<Record<ApiErrorClass, string>> = {
  throttled: "nothing to change if it passes: the window goes back on the queue until the tenant's quota allows it",
  badWindow: "nothing to change if it passes: the window is planned again from now; if it persists, check the clock of this host",
  configuration: "check the app registration's application permission ExchangeMessageTrace.Read.All, its admin consent in this tenant, and O365_CLOUD",
  transient: "nothing to change if it passes: the window is fetched again; if it persists, check the network path to the login and Graph hosts",
  fatal: "Graph answered in a way this version does not expect: report it with the error text",
};

/** Graph's errors, in the pipeline's terms. */
export function messageTraceFailure(error: unknown): Failure | undefined {
  if (error instanceof UntrustedUrlError) return { errorClass: "fatal", fix: "an @odata.nextLink Graph returned points elsewhere than Graph's message-trace resource: report it", sent: false };
  if (!(error instanceof ApiError)) return undefined;
  return apiFailure(error, DEFAULT_FIXES);
}
