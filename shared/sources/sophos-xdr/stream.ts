import type { RequestBudget } from "../../http/gate.js";

/**
 * What the feed's definition needs of Sophos Central beside its client: kept apart from the client so
 * that the registry loads no HTTP client, which only `open()` needs.
 */

/** The feed's one stream per tenant, as cursors, status and metrics name it. */
export const SOPHOS_XDR_STREAM = "XdrIoc";

/**
 * Sophos Central's rate limits are not in any documentation we could find (developer.sophos.com/intro is said to
 * have a section on them; its text was not available). So we pick a budget a collector never needs to exceed:
 * one query run of one tenant costs a submit, a handful of polls and one request per 2000 rows, about 10 requests,
 * and a tenant is listed every few minutes. 50 requests a minute per tenant leaves that five times over, and keeps
 * a process from ever hammering one tenant; 429s are still honoured if Sophos's real limit is lower.
 */
export const SOPHOS_TENANT_BUDGET: RequestBudget = { requests: 50, windowMs: 60_000 };

/** The budget of a gate key, for the process's RequestGate: every tenant key (`sophos:{tenantId}`) has SOPHOS_TENANT_BUDGET. */
export function sophosBudget(key: string): RequestBudget | undefined {
  return key.startsWith("sophos:") ? SOPHOS_TENANT_BUDGET : undefined;
}
