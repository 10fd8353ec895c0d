import type { IncomingMessage, ServerResponse } from "node:http";
import { Prng, type TenantProfile } from "../o365-audit/simulator/records.js";
import type { SimulatorRoute, SimulatorRouteContext } from "../../simulator/server.js";
import { MESSAGE_TRACES_PATH } from "./client.js";
import { json, SlidingQuota } from "../../simulator/http.js";

/**
 * Microsoft Graph's Exchange Online message trace, as the simulator serves it. Facts from Microsoft's
 * Graph v1.0 documentation:
 * - "List messageTraces" (learn.microsoft.com/graph/api/messagetracingroot-list-messagetraces):
 *   `GET /admin/exchange/tracing/messageTraces`, application permission `ExchangeMessageTrace.Read.All`,
 *   global service only; `$filter`, `$top` and `$skiptoken`; default page size 1000, `$top` from 1 to 5000;
 *   the next page is "the entire URL returned in @odata.nextLink", which keeps the query parameters.
 * - The `exchangeMessageTrace` resource (learn.microsoft.com/graph/api/resources/exchangemessagetrace):
 *   `id` (the message trace, one per message), `receivedDateTime` (UTC, `$filter` ge/le), `recipientAddress`,
 *   `senderAddress`, `messageId`, `fromIP`, `toIP`, `subject`, `size`, `status` (exchangeMessageTraceStatus,
 *   camelCase members as in fields.ts's GRAPH_STATUSES).
 * - Query limits and quota, as Exchange documents them for Get-MessageTraceV2, the same service
 *   (learn.microsoft.com/powershell/module/exchange/get-messagetracev2): data of the last 90 days, at most
 *   10 days per query, and "a maximum of 100 query requests … within 5 minutes running window".
 * - Errors (learn.microsoft.com/graph/errors): the HTTP status says what happened (400 malformed request, 401
 *   authentication missing or not valid for the resource, 429 throttled), with a JSON body `{"error":{"code","message"}}`.
 * Not found in the documentation searched, so written as issue 9 reports them: the 401 "Service principal-less
 * Authentication failed" of a tenant without the service principal of app 8bd644d1-…, and the `code` strings
 * of our 400, 401 and 429 bodies (BadRequest, InvalidAuthenticationToken, TooManyRequests); the client decides
 * by status and the message, not by these codes.
 */
export const GRAPH_SCOPE = "https://graph.microsoft.com/.default";
export const MESSAGE_TRACE_QUOTA = { requests: 100, windowMs: 5 * 60_000 };
export const SERVICE_PRINCIPAL_LESS_MESSAGE =
  "Service principal-less Authentication failed: the service principal of app 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 is not provisioned in the tenant.";

const DAY = 24 * 3_600_000;
const MAX_INTERVAL_MS = 10 * DAY;
const MAX_AGE_MS = 90 * DAY;
const DEFAULT_TOP = 1000;
const MAX_TOP = 5000;

export type GraphTraceStatus = "gettingStatus" | "pending" | "delivered" | "failed" | "expanded" | "quarantined" | "filteredAsSpam";

/** One row as Graph returns it: one per message × recipient. */
export interface GraphMessageTrace {
  id: string;
  messageId: string;
  senderAddress: string;
  recipientAddress: string;
  subject: string;
  status: GraphTraceStatus;
  receivedDateTime: string;
  size: number;
  fromIP: string;
  toIP: string | null;
}

/** A row with when it becomes listable and when its status becomes final. */
export interface SimulatedTrace {
  tenantId: string;
  row: GraphMessageTrace;
  received: number;
  visibleAt: number;
  /** The status shown until settlesAt (gettingStatus or pending), if it has one. */
  interimStatus: "gettingStatus" | "pending" | undefined;
  settlesAt: number;
}

export interface MessageTraceDataOptions {
  tenants: TenantProfile[];
  /** Messages are received in [from, to). */
  from: number;
  to: number;
  /** Mean time between two messages of one tenant. */
  messageIntervalMs: number;
  seed?: number;
  /** Share of rows listed only lateDelayMs after they were received. */
  lateRate?: number;
  lateDelayMs?: number;
  /** Share of rows whose status is gettingStatus or pending until settleDelayMs after they were received. */
  unsettledRate?: number;
  settleDelayMs?: number;
}

const PEOPLE = ["alex.smith", "sam.garcia", "jordan.kim", "maria.nguyen", "li.muller", "fatima.rossi", "noah.dubois", "olga.tanaka"];
const OUTSIDE = ["fabrikam.com", "northwind.example", "adatum.net", "mail.example.org"];
const SUBJECTS = ["Quarterly report", "Invoice 4471", "Meeting notes", "Re: contract draft", "Your parcel is on hold", "Lunch?", "Password expiry notice"];
const FINAL: GraphTraceStatus[] = ["delivered", "delivered", "delivered", "delivered", "delivered", "failed", "quarantined", "filteredAsSpam", "expanded"];

/** Realistic mail flow per tenant: inbound, outbound and internal messages, 1 to 4 recipients each, sharing the message's id. */
export function generateMessageTraces(options: MessageTraceDataOptions): SimulatedTrace[] {
  const prng = new Prng(options.seed ?? 7);
  const traces: SimulatedTrace[] = [];
  for (const tenant of options.tenants) {
    const local = (name: string) => `${name}@${tenant.domain}`;
    const outside = () => `${prng.pick(PEOPLE)}@${prng.pick(OUTSIDE)}`;
    for (let received = options.from + prng.int(0, options.messageIntervalMs); received < options.to; received += prng.int(1, 2 * options.messageIntervalMs)) {
      const direction = prng.pick(["inbound", "outbound", "internal"] as const);
      const sender = direction === "inbound" ? outside() : local(prng.pick(PEOPLE));
      const id = prng.uuid();
      const messageId = `<${prng.uuid().replace(/-/g, "")}@${sender.split("@")[1]}>`;
      const subject = prng.pick(SUBJECTS);
      const size = prng.int(2_000, 4_000_000);
      const fromIP = direction === "inbound" ? `203.0.113.${prng.int(1, 254)}` : `2a01:111:f400::${prng.int(1, 0xfff).toString(16)}`;
      const recipients = new Set<string>();
      const count = prng.int(1, 4);
      while (recipients.size < count) recipients.add(direction === "outbound" ? outside() : local(prng.pick(PEOPLE)));
      for (const recipientAddress of recipients) {
        const unsettled = prng.chance(options.unsettledRate ?? 0);
        traces.push({
          tenantId: tenant.id.toLowerCase(),
          row: {
            id,
            messageId,
            senderAddress: sender,
            recipientAddress,
            subject,
            status: prng.pick(FINAL),
            receivedDateTime: new Date(received).toISOString(),
            size,
            fromIP,
            toIP: direction === "outbound" ? `198.51.100.${prng.int(1, 254)}` : null,
          },
          received,
          visibleAt: prng.chance(options.lateRate ?? 0) ? received + (options.lateDelayMs ?? 30 * 60_000) : received,
          interimStatus: unsettled ? prng.pick(["gettingStatus", "pending"] as const) : undefined,
          settlesAt: unsettled ? received + (options.settleDelayMs ?? 15 * 60_000) : received,
        });
      }
    }
  }
  return traces;
}

/** The row as listed at time t: its interim status until it settles. */
export function traceAt(trace: SimulatedTrace, t: number): GraphMessageTrace {
  return trace.interimStatus && t < trace.settlesAt ? { ...trace.row, status: trace.interimStatus } : trace.row;
}

export interface MessageTraceRouteOptions {
  traces: SimulatedTrace[];
  /** The virtual clock of the data: what exists, what is late, what has settled, and what "now" is for the window checks. */
  now?: () => number;
  /** The clock of the per-tenant quota's sliding window (monotonic; a test's gate clock, so both agree). */
  quotaClock?: () => number;
  /** Tenants answered the service-principal-less 401. */
  withoutServicePrincipal?: string[];
  /** Share of requests answered 429 with a Retry-After of retryAfterSeconds, whatever the quota. */
  throttleRate?: number;
  retryAfterSeconds?: number;
  seed?: number;
}

export interface MessageTraceRouteStats {
  requests: number;
  /** Requests answered 429, by the quota or the throttleRate fault. */
  throttled: number;
  /** Of those, the ones past the tenant's quota of 100 per 5 minutes: a client keeping its budget sends none. */
  overQuota: number;
  /** Requests that arrived while their tenant was inside a Retry-After this route sent. */
  earlyRequests: number;
  earlyRequestsByTenant: Record<string, number>;
  /** The scope of the token of every authenticated request. */
  scopes: string[];
}

export interface MessageTraceRoute {
  route: SimulatorRoute;
  stats: MessageTraceRouteStats;
}

export function messageTraceRoute(options: MessageTraceRouteOptions): MessageTraceRoute {
  const now = options.now ?? Date.now;
  const quota = new SlidingQuota(MESSAGE_TRACE_QUOTA, options.quotaClock);
  const missing = new Set((options.withoutServicePrincipal ?? []).map((t) => t.toLowerCase()));
  const prng = new Prng(options.seed ?? 0x6d2b79f5);
  const stats: MessageTraceRouteStats = { requests: 0, throttled: 0, overQuota: 0, earlyRequests: 0, earlyRequestsByTenant: {}, scopes: [] };


  const throttle = (res: ServerResponse, context: SimulatorRouteContext, tenantId: string, retryAfterSeconds: number) => {
    stats.throttled += 1;
    json(res, 429, { error: { code: "TooManyRequests", message: "Too many requests. Retry after the time in the Retry-After header." } }, { "retry-after": String(retryAfterSeconds) });
    context.retryAfterSent(`graph:${tenantId}`, retryAfterSeconds * 1000);
  };

  const route: SimulatorRoute = (req, res, url, context) => {
    if (url.pathname !== MESSAGE_TRACES_PATH) return false;
    answer(req, res, url, context);
    return true;
  };

  const answer = (req: IncomingMessage, res: ServerResponse, url: URL, context: SimulatorRouteContext): void => {
    stats.requests += 1;
    const token = context.token(req.headers.authorization);
    if (!token) return json(res, 401, { error: { code: "InvalidAuthenticationToken", message: "Access token is empty or invalid." } });
    // Graph checks the token's audience. The simulator stands in for graph.microsoft.com at its own origin,
    // so a client pointed at it asks for that origin's `.default`; any other scope is another resource's.
    if (token.scope !== GRAPH_SCOPE && token.scope !== `${context.baseUrl}/.default`) {
      return json(res, 401, { error: { code: "InvalidAuthenticationToken", message: "Access token validation failure. Invalid audience." } });
    }
    stats.scopes.push(token.scope);
    const tenantId = token.tenantId;
    if (context.isEarly(`graph:${tenantId}`, context.arrived)) {
      stats.earlyRequests += 1;
      stats.earlyRequestsByTenant[tenantId] = (stats.earlyRequestsByTenant[tenantId] ?? 0) + 1;
    }
    if (missing.has(tenantId)) return json(res, 401, { error: { code: "InvalidAuthenticationToken", message: SERVICE_PRINCIPAL_LESS_MESSAGE } });
    const waitMs = quota.waitMs(tenantId);
    if (waitMs > 0) {
      stats.overQuota += 1;
      return throttle(res, context, tenantId, Math.ceil(waitMs / 1000));
    }
    if ((options.throttleRate ?? 0) > 0 && prng.chance(options.throttleRate ?? 0)) return throttle(res, context, tenantId, options.retryAfterSeconds ?? 1);
    quota.accept(tenantId);
    return list(res, url, context, tenantId);
  };

  const list = (res: ServerResponse, url: URL, context: SimulatorRouteContext, tenantId: string) => {
    const window = parseFilter(url.searchParams.get("$filter"));
    if (typeof window === "string") return badRequest(res, window);
    const t = now();
    if (window.end - window.start > MAX_INTERVAL_MS) return badRequest(res, "The time range between start and end date must not exceed 10 days.");
    if (window.start < t - MAX_AGE_MS) return badRequest(res, "The start date must not be more than 90 days in the past.");
    if (window.end > t) return badRequest(res, "The end date must not be in the future.");
    const topText = url.searchParams.get("$top");
    const top = topText === null ? DEFAULT_TOP : Number(topText);
    if (!Number.isInteger(top) || top < 1 || top > MAX_TOP) return badRequest(res, `$top must be between 1 and ${MAX_TOP}.`);
    const skip = Number(url.searchParams.get("$skiptoken") ?? 0);
    const rows = options.traces
      .filter((trace) => trace.tenantId === tenantId && trace.visibleAt <= t && trace.received >= window.start && trace.received <= window.end)
      // Newest first; recipients of one message in a stable order, so pages never overlap.
      .sort((a, b) => b.received - a.received || a.row.recipientAddress.localeCompare(b.row.recipientAddress))
      .map((trace) => traceAt(trace, t));
    const body: Record<string, unknown> = {
      "@odata.context": `${context.baseUrl}/v1.0/$metadata#admin/exchange/tracing/messageTraces`,
      value: rows.slice(skip, skip + top),
    };
    if (skip + top < rows.length) {
      const next = new URL(url.pathname, context.baseUrl);
      for (const [name, value] of url.searchParams) if (name !== "$skiptoken") next.searchParams.set(name, value);
      next.searchParams.set("$skiptoken", String(skip + top));
      body["@odata.nextLink"] = next.toString();
    }
    json(res, 200, body);
  };

  return { route, stats };
}

/** `receivedDateTime ge {start} and receivedDateTime le {end}`, ISO with Z; a message saying what is wrong otherwise. */
function parseFilter(filter: string | null): { start: number; end: number } | string {
  const match = /^receivedDateTime ge (\S+Z) and receivedDateTime le (\S+Z)$/.exec(filter ?? "");
  if (!match) return "$filter must be 'receivedDateTime ge {start} and receivedDateTime le {end}'.";
  const start = Date.parse(match[1] as string);
  const end = Date.parse(match[2] as string);
  if (Number.isNaN(start) || Number.isNaN(end)) return "Invalid date in $filter.";
  if (end < start) return "The start date must be before the end date.";
  return { start, end };
}

function badRequest(res: ServerResponse, message: string): void {
  json(res, 400, { error: { code: "BadRequest", message } });
}

