import { z } from "zod";
import { createCredentialFactory } from "../../entra/auth.js";
import { ApiError, type ApiErrorClass, UntrustedUrlError } from "../../http/errors.js";
import type { Failure, Source, SourceSession, TimeWindow, Work } from "../source.js";
import { graphBudget, MESSAGE_TRACE_STREAM, MessageTraceClient } from "./client.js";
import { MESSAGE_TRACE_DATASET, type MessageTraceContext, normalizeMessageTraceToLine } from "./normalize.js";
import { MAX_AGE_MS, MAX_QUERY_MS, planMessageTraceWindows } from "./plan.js";
import { messageTraceRecordKey } from "./recordKey.js";
import { type MessageTraceConfig, messageTraceProblems, messageTraceSettings, readMessageTrace } from "./settings.js";

/** A window of received times, both ends included (Graph's `ge`/`le`), as ISO text. */
const itemSchema = z
  .strictObject({ start: z.iso.datetime(), end: z.iso.datetime() })
  .refine(({ start, end }) => Date.parse(start) < Date.parse(end), { message: "start must be before end", path: ["end"] })
  .refine(({ start, end }) => Date.parse(end) - Date.parse(start) <= MAX_QUERY_MS, { message: "Graph answers at most 10 days per query", path: ["end"] });
export type MessageTraceItem = z.infer<typeof itemSchema>;

/** `2026-11-28T10:00:00.000Z` → `20261128T100000Z`: a window's work id is filename-safe and sorts by time. */
function compactTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(".000Z", "Z");
}

function windowWork(tenantId: string, window: TimeWindow): Work<MessageTraceItem> {
  const start = new Date(window.start).toISOString();
  return {
    tenantId,
    stream: MESSAGE_TRACE_STREAM,
    workId: `${compactTime(window.start)}-${compactTime(window.end)}`,
    created: start,
    item: { start, end: new Date(window.end).toISOString() },
  };
}

/**
 * Exchange Online message trace from Microsoft Graph: one stream per tenant; each listing window is one
 * work item, whose rows the worker reads page by page. The lister sends Graph nothing: every request of
 * the feed is the worker's, so the tenant's small quota (100 per 5 minutes) is spent where it is budgeted.
 */
export const messageTraceSource: Source<MessageTraceConfig, MessageTraceItem> = {
  name: "message-trace",
  dataset: MESSAGE_TRACE_DATASET,
  settingsPrefix: "MESSAGE_TRACE_",
  settings: messageTraceSettings,
  scheduleSetting: "MESSAGE_TRACE_SCHEDULE",
  problems: messageTraceProblems,
  configure: readMessageTrace,
  enabled: (config) => config.enabled,
  schedule: (config) => config.schedule,
  requestBudget: graphBudget,
  item: itemSchema,
  async open(config, deps): Promise<SourceSession<MessageTraceItem>> {
    // The worker's client: it waits out a short hold at the tenant's gate and goes back on the queue for a
    // longer one or a 429, rather than holding its slot.
    const client = new MessageTraceClient({
      graphBaseUrl: config.graphBaseUrl,
      credentialFor: createCredentialFactory(config.entra, { requestTimeoutMs: deps.requestTimeoutMs, ...(deps.trustedCa ? { trustedCa: deps.trustedCa } : {}) }),
      dispatcher: deps.dispatcher,
      timeoutMs: deps.requestTimeoutMs,
      gate: deps.gate,
      maxGateWaitMs: 5_000,
      maxThrottleRetries: 0,
      maxTransientRetries: 3,
      pageSize: config.pageSize,
      userAgent: deps.userAgent,
      onRequest: deps.onRequest,
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
    });
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
      async *list(ref, window) {
        yield [windowWork(ref.tenantId, window)];
      },
      // The item schema holds the 10 days per query; what it cannot know is how old a window has become.
      refuse: (work) =>
        Date.parse(work.item.start) < deps.now() - MAX_AGE_MS
          ? `item.start: ${work.item.start} is more than 90 days ago, beyond what Graph keeps: the rows of this window are lost at the source`
          : undefined,
      async fetch(work) {
        return rows(client, work);
      },
      recordKey: messageTraceRecordKey,
      toLine: (row, work) => normalizeMessageTraceToLine(row, contextOf(work.tenantId)),
      failure: messageTraceFailure,
    };
  },
};

async function* rows(client: MessageTraceClient, work: Work<MessageTraceItem>): AsyncGenerator<unknown> {
  const window = { start: Date.parse(work.item.start), end: Date.parse(work.item.end) };
  for await (const page of client.listMessageTraces(work.tenantId, window)) yield* page;
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
  return {
    errorClass: error.errorClass,
    fix: error.fix ?? DEFAULT_FIXES[error.errorClass],
    code: error.code ?? (error.status === undefined ? undefined : String(error.status)),
    retryAfterMs: error.retryAfterMs,
    sent: error.status !== undefined,
  };
}
