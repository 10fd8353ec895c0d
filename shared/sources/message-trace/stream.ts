import type { RequestBudget } from "../../http/gate.js";

/**
 * What the feed's definition needs of Graph's message trace beside its client: kept apart from the client
 * so that the registry loads no HTTP client (undici) or credential code, which only `open()` needs.
 */

/** The feed's one stream per tenant, as cursors, status and metrics name it. */
export const MESSAGE_TRACE_STREAM = "MessageTrace";

/**
 * Exchange accepts at most 100 message-trace requests per tenant in a running 5-minute window
 * (learn.microsoft.com/powershell/module/exchange/get-messagetracev2, "Throttling limit"). We keep 10
 * below it: a retry after a transient failure and requests of another process on the same app must
 * not tip a tenant over.
 */
export const GRAPH_MESSAGE_TRACE_BUDGET: RequestBudget = { requests: 90, windowMs: 5 * 60_000 };

/** The budget of a gate key, for the process's RequestGate: every `graph:` key has Graph message trace's. */
export function graphBudget(key: string): RequestBudget | undefined {
  return key.startsWith("graph:") ? GRAPH_MESSAGE_TRACE_BUDGET : undefined;
}
