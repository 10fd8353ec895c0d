import { type Dispatcher, request } from "undici";
import { z } from "zod";
import { ApiError, type ApiErrorClass, UntrustedUrlError } from "../../http/errors.js";
import { apiFailure } from "../failure.js";
import { type ApiClientOptions, parseRetryAfter, readBody, sendPolicy, sendThroughGate } from "../../http/send.js";
import type { Failure, RequestEvent } from "../source.js";
import { SOPHOS_XDR_STREAM } from "./stream.js";

// Defined beside the feed's definition, which must not load this client; still found here by the client's users.
export { SOPHOS_TENANT_BUDGET, SOPHOS_XDR_STREAM, sophosBudget } from "./stream.js";

/**
 * Client of Sophos Central's XDR Data Lake for the IOC detections of `xdr_ioc_view`: one OAuth client
 * credential (a tenant's, a partner's or an enterprise organization's), its tenants, and for each tenant
 * an asynchronous query run (submit, poll, read the result pages).
 *
 * What Sophos documents, and where (Sophos's own pages where we could read them; where not, the third party that
 * quotes or meets the behaviour):
 * - Token: `POST https://id.sophos.com/api/v2/oauth2/token`, form `grant_type=client_credentials&client_id&client_secret&scope=token`;
 *   a bearer JWT valid 3600 s; a wrong secret is a 401 `{"errorCode":"oauth.invalid_client_secret","message":"Unauthorized"}`;
 *   a 403 on a partner's call to a tenant means Partner Assistance is off for that customer, or a trial account
 *   (community.sophos.com/sophos-central-api/f/recommended-reads/120745/authenticating-to-sophos-central-apis,
 *   community.sophos.com/sophos-central-api/f/recommended-reads/120746/common-troubleshooting-steps-for-sophos-central-api-errors).
 * - `GET https://api.central.sophos.com/whoami/v1` → `{id, idType: tenant|partner|organization, apiHosts: {global, dataRegion}}`;
 *   a tenant's calls go to `dataRegion` with `X-Tenant-ID`, a partner's or organization's to `global` with `X-Partner-ID`
 *   or `X-Organization-ID` (post 120745; developer.sophos.com/getting-started-tenant and /getting-started, as linked there).
 * - Tenants of a partner: `GET /partner/v1/tenants` with the `X-Partner-ID` header (the Partner API's OpenAPI spec,
 *   developer.sophos.com/portals/api/sites/sophos-prod-test/liveportal/apis/partner-v1/spec), paged by `page` with
 *   `pageTotal=true` for `pages.total`; of an organization `/organization/v1/tenants`; each tenant names its `apiHost`.
 * - Data Lake query: `POST {apiHost}/xdr-query/v1/queries/runs` `{"adHocQuery":{"template":…},"from","to"}`, poll
 *   `GET …/runs/{id}` until `status` is `finished`, then read `GET …/runs/{id}/results`
 *   (community.sophos.com/intercept-x-endpoint/edr-data-lake-eap/b/announcements/posts/api-guide---getting-started).
 *   `status` pending|started|finished and `result` notAvailable|succeeded|failed|timedOut|canceled, `pageSize` ≤ 2000,
 *   `pages.nextKey` sent back as `pageFromKey`: developer.sophos.com/docs/xdr-query-v1 as tools built on it quote it
 *   (glama.ai/mcp/servers/rijul170/sophos-central-mcp/tools/sophos_get_xdr_query_status, …/sophos_get_xdr_query_results).
 *   A run's `expiresAt` two hours after `createdAt`, and a `from` in the future answered 400 `ValidationException`
 *   "… cannot be in the future": Sekoia.io's Sophos connector's recorded answers
 *   (github.com/SEKOIA-IO/automation-library, Sophos/tests/test_sophos_xdr_query.py).
 *   The Data Lake keeps 30 days (news.sophos.com/en-us/2021/09/20/ioc-hunting-expanding-reach-with-sophos-central-xdr-api).
 *
 * Not found in any documentation searched: Sophos Central's request rate limits (see SOPHOS_TENANT_BUDGET in stream.ts), and what
 * an expired run answers (taken as a 404 or a status `expired`: either is reported as RunExpiredError).
 */

export const SOPHOS_ID_BASE_URL = "https://id.sophos.com";
export const SOPHOS_GLOBAL_BASE_URL = "https://api.central.sophos.com";
/** Every API host Sophos names (api-eu01.central.sophos.com, api.central.sophos.com) is under it. */
export const SOPHOS_HOST_SUFFIX = ".sophos.com";

/** The Data Lake answers at most this many rows a page. */
export const MAX_RESULT_PAGE_SIZE = 2000;

export const RUNS_PATH = "/xdr-query/v1/queries/runs";

/** What a Data Lake run of the feed asks for: IOC detections above a weight, of rows whose time is in [from, to]. */
export function iocQueryTemplate(threshold: number): string {
  if (!Number.isInteger(threshold) || threshold < 0) throw new RangeError(`threshold must be a whole number ≥ 0, not ${threshold}`);
  return `SELECT * FROM xdr_ioc_view WHERE ioc_detection_weight > ${threshold}`;
}

export type SophosOperation = "token" | "whoami" | "tenants" | "submitRun" | "getRun" | "runResults";

export interface SophosCredential {
  clientId: string;
  /** Sent to the token endpoint only; never in an error, a log or an event. */
  clientSecret: string;
}

/**
 * Where the API hosts that whoami and the tenant lists name may be, for our bearer token to go there: under a
 * host suffix (`.sophos.com` in production), or exactly one origin (a local simulator, which serves every region).
 */
export type ApiHostTrust = { hostSuffix: string } | { origin: string };

export interface SophosClientOptions extends Omit<ApiClientOptions, "credentialFor"> {
  /** One credential per client: its token, its whoami and its tenants are the client's. */
  credential: SophosCredential;
  /** Sophos ID's origin (default https://id.sophos.com). */
  idBaseUrl?: string;
  /** The global API's origin, where whoami is asked (default https://api.central.sophos.com). */
  globalBaseUrl?: string;
  /** Default: hosts under `.sophos.com`. */
  trust?: ApiHostTrust;
  /**
   * Every request that reached Sophos Central, for the request and throttling metrics: a tenant's under its id, the
   * credential's own (whoami, tenant lists) under its client id. Token requests are not reported.
   */
  onRequest?: (event: RequestEvent) => void;
  /** The wall clock the token's lifetime is counted on (default Date.now). */
  now?: () => number;
}

/** Who the credential is. */
export interface Whoami {
  id: string;
  idType: "tenant" | "partner" | "organization";
  apiHosts: { global: string; dataRegion?: string | undefined };
}

/** A tenant the credential reaches, with the host its data is served from (checked against the trust). */
export interface SophosTenant {
  id: string;
  name?: string | undefined;
  /** Origin, and for a simulator a path prefix, of the tenant's regional API. */
  apiHost: string;
  dataRegion?: string | undefined;
  status?: string | undefined;
}

/** A tenant listed but not collected, and why (reported by the caller, once). */
export interface SkippedTenant {
  id: string;
  name?: string | undefined;
  reason: string;
}

export interface TenantListing {
  idType: Whoami["idType"];
  tenants: SophosTenant[];
  skipped: SkippedTenant[];
}

/** One query run: rows of `xdr_ioc_view` whose time is in [from, to] (ms) and whose weight is above threshold. */
export interface XdrRunRequest {
  from: number;
  to: number;
  threshold: number;
}

/** A run id as Sophos issues them (UUIDs); nothing else goes into a URL path of ours. */
const RUN_ID = /^[A-Za-z0-9-]{1,100}$/;
/** Tenant ids are UUIDs; they go into a header and a gate key. */
const TENANT_ID = /^[A-Za-z0-9-]{1,100}$/;

// ---------------------------------------------------------------------------------------------------
// Response schemas: every answer is checked before it is used; rows are passed on unchecked (the
// normalizer reads each, and writes one it cannot map as a pipeline_error document).

export const tokenSchema = z.looseObject({
  access_token: z.string().min(1),
  expires_in: z.number().positive(),
  token_type: z.string().regex(/^bearer$/i),
});

export const whoamiSchema = z.looseObject({
  id: z.string().regex(TENANT_ID),
  idType: z.enum(["tenant", "partner", "organization"]),
  apiHosts: z.looseObject({ global: z.string(), dataRegion: z.string().optional() }),
});

export const tenantsPageSchema = z.looseObject({
  items: z.array(
    z.looseObject({
      id: z.string().regex(TENANT_ID),
      name: z.string().optional(),
      apiHost: z.string().optional(),
      dataRegion: z.string().optional(),
      status: z.string().optional(),
    }),
  ),
  // Asked with pageTotal=true, so the number of pages is there to page by.
  pages: z.looseObject({ current: z.number().int().optional(), total: z.number().int().nonnegative() }),
});

/** A run as Sophos answers it. `status` is kept as text: one Sophos adds later is polled like `started`. */
export const runSchema = z.looseObject({
  id: z.string().regex(RUN_ID),
  status: z.string(),
  result: z.string().optional(),
  createdAt: z.string().optional(),
  expiresAt: z.string().optional(),
  finishedAt: z.string().optional(),
});
export type XdrRun = z.infer<typeof runSchema>;

export const resultsPageSchema = z.looseObject({
  items: z.array(z.unknown()),
  pages: z.looseObject({ nextKey: z.string().min(1).optional() }).optional(),
});

/** Sophos Central's error body (`{error, message, correlationId, …}`), and Sophos ID's (`{errorCode, message, trackingId}`). */
const errorBodySchema = z.looseObject({
  error: z.string().optional(),
  errorCode: z.string().optional(),
  message: z.string().optional(),
});

// ---------------------------------------------------------------------------------------------------
// Errors of the module

/** A run Sophos no longer keeps (its two hours passed): nothing more can be read from it; submit the query again. */
export class RunExpiredError extends Error {
  readonly errorClass = "expired";

  constructor(
    readonly tenantId: string,
    readonly runId: string,
    detail: string,
  ) {
    super(`run ${runId} of tenant ${tenantId} has expired: ${detail}`);
    this.name = "RunExpiredError";
  }
}

/** A run that finished without results (`failed`, `timedOut`, `canceled`): the query may be submitted again. */
export class RunFailedError extends Error {
  constructor(
    readonly tenantId: string,
    readonly runId: string,
    readonly result: string,
  ) {
    super(`run ${runId} of tenant ${tenantId} finished with result ${result}`);
    this.name = "RunFailedError";
  }
}

/** What an operator must change when Sophos refuses the credential itself. */
export function credentialFix(clientId: string): string {
  return (
    `Sophos Central refused the API credential with client ID ${clientId}: check its client ID and secret in Sophos Central's ` +
    "API Credentials Management (a secret is shown only when the credential is added: add a new credential if it is lost); " +
    "its role must be able to read the Data Lake (Service Principal ReadOnly or higher for a tenant credential, the matching " +
    "role for a partner or enterprise credential), and Data Lake uploads must be turned on for the tenants' devices, " +
    "or no IOC detections reach the Data Lake"
  );
}

/** What an operator must change when one tenant refuses the credential's query. */
export function tenantFix(tenantId: string): string {
  return (
    `Sophos Central refused the Data Lake query for tenant ${tenantId}: a partner credential reaches a customer only while ` +
    "the customer has Partner Assistance turned on (trial accounts are refused); the credential's role must be able to read " +
    "the Data Lake, the tenant needs a licence with XDR (or MDR), and Data Lake uploads must be turned on for its devices"
  );
}

/** What an operator must change when a partner or organization credential may not list its tenants. */
export function listingFix(clientId: string): string {
  return (
    `Sophos Central refused the tenant list to the API credential with client ID ${clientId}: a partner credential needs a ` +
    "Partner role, an organization credential an Enterprise role, that may read tenants"
  );
}

/** What an operator reads for an error Sophos's answer came without a fix for. */
const DEFAULT_FIXES: Readonly<Record<ApiErrorClass, string>> = {
  throttled: "nothing to change if it passes: the work goes back on the queue until the tenant's requests are allowed again",
  badWindow: "nothing to change if it passes: the window is planned again from now; if it persists, check the clock of this host",
  configuration: "check the Sophos Central API credential (client ID and secret), its role, and that Data Lake uploads are on",
  transient: "nothing to change if it passes: the request is sent again; if it persists, check the network path to id.sophos.com and the tenant's API host",
  fatal: "Sophos Central answered in a way this version does not expect: report it with the error text",
};

/**
 * The client's errors in the pipeline's terms. A run that expired or failed is not lost data: its window's query
 * is submitted again, so both are transient. `sent` is false when nothing reached Sophos (refused at the gate, an
 * untrusted host, no answer at all).
 */
export function sophosFailure(error: unknown): Failure | undefined {
  if (error instanceof UntrustedUrlError) return { errorClass: "fatal", fix: "Sophos named an API host outside the trusted hosts (or a queue message carried one): report it", sent: false };
  if (error instanceof RunExpiredError || error instanceof RunFailedError) return { errorClass: "transient", fix: "nothing to change: the window's query is submitted again", code: error instanceof RunFailedError ? error.result : "expired", sent: true };
  if (!(error instanceof ApiError)) return undefined;
  return apiFailure(error, DEFAULT_FIXES);
}

export type SophosErrorClass = ApiErrorClass | "expired";

/**
 * What an HTTP error of one operation means. 400/401/403 from the token endpoint or whoami is the credential
 * (its fix names it); on a tenant's query it is that tenant's setup; a 400 on a submitted run is its window (a
 * `from` in the future, past the Data Lake's 30 days): the only thing a caller chooses in it. A 404 on a run
 * is a run Sophos no longer has.
 */
export function classifySophosError(operation: SophosOperation, status: number, clientId: string, tenantId?: string): { errorClass: SophosErrorClass; fix?: string } {
  if (status === 429) return { errorClass: "throttled" };
  if (status === 408 || status >= 500) return { errorClass: "transient" };
  switch (operation) {
    case "token":
    case "whoami":
      if (status === 400 || status === 401 || status === 403) return { errorClass: "configuration", fix: credentialFix(clientId) };
      break;
    case "tenants":
      if (status === 401) return { errorClass: "configuration", fix: credentialFix(clientId) };
      if (status === 403) return { errorClass: "configuration", fix: listingFix(clientId) };
      break;
    case "submitRun":
    case "getRun":
    case "runResults":
      if (status === 401) return { errorClass: "configuration", fix: credentialFix(clientId) };
      if (status === 403) return { errorClass: "configuration", fix: tenantFix(tenantId ?? "(unknown)") };
      if (status === 400 && operation === "submitRun") return { errorClass: "badWindow" };
      if (status === 404 && operation !== "submitRun") return { errorClass: "expired" };
      break;
  }
  return { errorClass: "fatal" };
}

/**
 * An API host named by a response, as a URL our bearer token may go to: https, no credentials, query or fragment,
 * a plain path (a simulator's region prefix; none in production), and a host under the trusted suffix (with the
 * default port) or exactly the trusted origin. Throws UntrustedUrlError naming what is wrong, without the URL's path.
 */
export function trustedApiHost(candidate: string, trust: ApiHostTrust): URL {
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    throw new UntrustedUrlError("apiHost is not a URL");
  }
  if (url.protocol !== "https:") throw new UntrustedUrlError(`apiHost scheme ${url.protocol} is not https`);
  if (url.username || url.password) throw new UntrustedUrlError("credentials in apiHost");
  if (url.search || url.hash) throw new UntrustedUrlError("apiHost has a query or fragment");
  // Letters, digits, - and _ per segment: no dot segments, no encoded separators.
  if (!/^(\/[A-Za-z0-9_-]+)*\/?$/.test(url.pathname)) throw new UntrustedUrlError("apiHost path is not a plain prefix");
  if ("hostSuffix" in trust) {
    const suffix = trust.hostSuffix.toLowerCase();
    if (!suffix.startsWith(".")) throw new UntrustedUrlError(`host suffix ${trust.hostSuffix} must start with a dot`);
    if (!url.hostname.toLowerCase().endsWith(suffix) || url.port !== "") throw new UntrustedUrlError(`host ${url.host} is not under ${suffix}`);
  } else if (url.origin !== new URL(trust.origin).origin) {
    throw new UntrustedUrlError(`host ${url.host} is not the trusted origin's`);
  }
  return url;
}

/** The token and when to renew it: a few minutes before it expires, so that no request carries one about to lapse. */
interface CachedToken {
  value: string;
  renewAt: number;
  expiresAt: number;
}

/** At most 5 minutes before expiry, and at most half the lifetime (a token of 4 minutes is renewed after 2). */
const RENEW_BEFORE_MS = 5 * 60_000;
const MAX_ERROR_BODY = 64 * 1024;
/** A tenant list longer than this is a paging loop, not a partner. */
const MAX_TENANT_PAGES = 1000;
const DEFAULT_POLL_INTERVAL_MS = 2_000;
const DEFAULT_MAX_POLLS = 90;

interface Call {
  operation: Exclude<SophosOperation, "token">;
  key: string;
  /** Whose request it is, for the onRequest event: the tenant, or the credential's client id. */
  owner: string;
  tenantId?: string;
  method: "GET" | "POST";
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

type CallFailure = ApiError | RunExpiredError;

export class SophosClient {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly trust: ApiHostTrust;
  private readonly idOrigin: string;
  private readonly globalOrigin: string;
  private token: CachedToken | undefined;
  /** The one token request in flight: concurrent callers share it. */
  private renewing: Promise<CachedToken> | undefined;
  private identity: Promise<Whoami> | undefined;

  constructor(private readonly options: SophosClientOptions) {
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.trust = options.trust ?? { hostSuffix: SOPHOS_HOST_SUFFIX };
    if ("hostSuffix" in this.trust && !this.trust.hostSuffix.startsWith(".")) throw new RangeError(`trust.hostSuffix must start with a dot, not ${this.trust.hostSuffix}`);
    this.idOrigin = new URL(options.idBaseUrl ?? SOPHOS_ID_BASE_URL).origin;
    this.globalOrigin = new URL(options.globalBaseUrl ?? SOPHOS_GLOBAL_BASE_URL).origin;
  }

  get clientId(): string {
    return this.options.credential.clientId;
  }

  /** Who the credential is; asked once per client (an identity does not change), again after a failure. */
  whoami(): Promise<Whoami> {
    this.identity ??= this.askWhoami().catch((error: unknown) => {
      this.identity = undefined;
      throw error;
    });
    return this.identity;
  }

  /**
   * The tenants the credential reaches: for a tenant credential itself, at its data region; for a partner or an
   * organization every page of its tenant list. A tenant without an apiHost (or with one outside the trust) is
   * skipped and returned with the reason, for the caller to report.
   */
  async tenants(): Promise<TenantListing> {
    const me = await this.whoami();
    if (me.idType === "tenant") {
      if (me.apiHosts.dataRegion === undefined) return { idType: me.idType, tenants: [], skipped: [{ id: me.id, reason: "whoami names no data region for the tenant" }] };
      return { idType: me.idType, tenants: [{ id: me.id, apiHost: trustedApiHost(me.apiHosts.dataRegion, this.trust).href.replace(/\/$/, "") }], skipped: [] };
    }
    const global = trustedApiHost(me.apiHosts.global, this.trust);
    const header = me.idType === "partner" ? "X-Partner-ID" : "X-Organization-ID";
    const tenants: SophosTenant[] = [];
    const skipped: SkippedTenant[] = [];
    // Pages are by number: a tenant added while they are read can push another onto the next page a second time.
    const seen = new Set<string>();
    for (let page = 1, total = 1; page <= total; page += 1) {
      if (page > MAX_TENANT_PAGES) throw new ApiError("fatal", 200, undefined, `tenants: more than ${MAX_TENANT_PAGES} pages`);
      const url = joinPath(global, `/${me.idType}/v1/tenants`);
      url.searchParams.set("page", String(page));
      url.searchParams.set("pageTotal", "true");
      const body = parse(tenantsPageSchema, "tenants", await this.call({ operation: "tenants", key: this.credentialKey, owner: this.clientId, method: "GET", url, headers: { [header]: me.id } }));
      total = body.pages.total;
      for (const item of body.items) {
        if (seen.has(item.id.toLowerCase())) continue;
        seen.add(item.id.toLowerCase());
        const named = { id: item.id, ...(item.name === undefined ? {} : { name: item.name }) };
        if (item.apiHost === undefined) {
          skipped.push({ ...named, reason: "Sophos lists no apiHost for it (its data region is not provisioned yet)" });
          continue;
        }
        try {
          const apiHost = trustedApiHost(item.apiHost, this.trust).href.replace(/\/$/, "");
          tenants.push({ ...named, apiHost, dataRegion: item.dataRegion, status: item.status });
        } catch (error) {
          skipped.push({ ...named, reason: error instanceof Error ? error.message : String(error) });
        }
      }
    }
    return { idType: me.idType, tenants, skipped };
  }

  /** Submits the IOC query of the window to the tenant's Data Lake; the run answered (status `pending`). */
  async submitRun(tenant: SophosTenant, run: XdrRunRequest): Promise<XdrRun> {
    const body = JSON.stringify({
      adHocQuery: { template: iocQueryTemplate(run.threshold) },
      from: new Date(run.from).toISOString(),
      to: new Date(run.to).toISOString(),
    });
    return parse(runSchema, "submitRun", await this.tenantCall(tenant, "submitRun", "POST", RUNS_PATH, body));
  }

  /** The run as it is now; RunExpiredError when Sophos no longer has it. */
  async getRun(tenant: SophosTenant, runId: string): Promise<XdrRun> {
    const run = parse(runSchema, "getRun", await this.tenantCall(tenant, "getRun", "GET", `${RUNS_PATH}/${checkedRunId(runId)}`));
    if (run.status === "expired") throw new RunExpiredError(tenant.id, runId, "its status is expired");
    return run;
  }

  /**
   * Polls the run until it has finished, `intervalMs` apart (default 2 s); the run when it succeeded. RunFailedError for any
   * other result, RunExpiredError when it is gone, and a transient ApiError when it is still running after maxPolls
   * (poll again later with the same id).
   */
  async awaitRun(tenant: SophosTenant, runId: string, poll: { intervalMs?: number; maxPolls?: number } = {}): Promise<XdrRun> {
    const maxPolls = poll.maxPolls ?? DEFAULT_MAX_POLLS;
    let run: XdrRun | undefined;
    for (let polls = 0; polls < maxPolls; polls += 1) {
      await this.sleep(poll.intervalMs ?? DEFAULT_POLL_INTERVAL_MS);
      run = await this.getRun(tenant, runId);
      if (run.status !== "finished") continue;
      if (run.result === "succeeded") return run;
      throw new RunFailedError(tenant.id, runId, run.result ?? "(none)");
    }
    throw new ApiError("transient", undefined, "runPending", `run ${runId} of tenant ${tenant.id} is still ${run?.status ?? "pending"} after ${maxPolls} polls`);
  }

  /** The rows of a finished run, page by page, following `pages.nextKey` until there is none. */
  async *resultPages(tenant: SophosTenant, runId: string, pageSize: number = MAX_RESULT_PAGE_SIZE): AsyncGenerator<unknown[]> {
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_RESULT_PAGE_SIZE) throw new RangeError(`pageSize must be 1 to ${MAX_RESULT_PAGE_SIZE}, not ${pageSize}`);
    const path = `${RUNS_PATH}/${checkedRunId(runId)}/results`;
    const seen = new Set<string>();
    let fromKey: string | undefined;
    do {
      const query: Record<string, string> = { pageSize: String(pageSize), ...(fromKey === undefined ? {} : { pageFromKey: fromKey }) };
      const page = parse(resultsPageSchema, "runResults", await this.tenantCall(tenant, "runResults", "GET", path, undefined, query));
      yield page.items;
      fromKey = page.pages?.nextKey;
      if (fromKey !== undefined) {
        // A key given twice would page forever.
        if (seen.has(fromKey)) throw new ApiError("fatal", 200, undefined, `runResults: nextKey repeated for run ${runId}`);
        seen.add(fromKey);
      }
    } while (fromKey !== undefined);
  }

  // -------------------------------------------------------------------------------------------------

  /** Token, whoami and tenant lists are the credential's requests, apart from any tenant's quota. */
  private get credentialKey(): string {
    return `sophos-id:${this.clientId}`;
  }

  private async askWhoami(): Promise<Whoami> {
    const url = joinPath(new URL(this.globalOrigin), "/whoami/v1");
    const me = parse(whoamiSchema, "whoami", await this.call({ operation: "whoami", key: this.credentialKey, owner: this.clientId, method: "GET", url, headers: {} }));
    return { id: me.id, idType: me.idType, apiHosts: { global: me.apiHosts.global, dataRegion: me.apiHosts.dataRegion } };
  }

  private tenantCall(tenant: SophosTenant, operation: "submitRun" | "getRun" | "runResults", method: "GET" | "POST", path: string, body?: string, query: Record<string, string> = {}): Promise<unknown> {
    if (!TENANT_ID.test(tenant.id)) throw new UntrustedUrlError("tenant id is not a Sophos tenant id");
    // Checked on every call, not only when listed: the tenant may come from a queue message.
    const url = joinPath(trustedApiHost(tenant.apiHost, this.trust), path);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    const headers: Record<string, string> = { "X-Tenant-ID": tenant.id, ...(body === undefined ? {} : { "content-type": "application/json" }) };
    return this.call({ operation, key: `sophos:${tenant.id.toLowerCase()}`, owner: tenant.id, tenantId: tenant.id, method, url, headers, ...(body === undefined ? {} : { body }) });
  }

  /**
   * One API request through the gate: the token first (not in the tenant's quota), then the gate, then the
   * request. A 401 with a token issued earlier drops it and is retried as transient with a new one; with a
   * token just issued it is the credential's configuration.
   */
  private async call(call: Call): Promise<unknown> {
    // Set once an attempt has passed the gate: a failed token request or a refusal at the gate sent nothing.
    let sent = false;
    const report = (throttled: boolean) => this.options.onRequest?.({ tenantId: call.owner, stream: SOPHOS_XDR_STREAM, operation: call.operation, throttled });
    const body = await sendThroughGate<Dispatcher.ResponseData, CallFailure>(sendPolicy(this.options, call.key, this.sleep, this.random), {
      attempt: async (pass) => {
        sent = false;
        const token = await this.bearer();
        await pass();
        sent = true;
        const response = await request(call.url, {
          method: call.method,
          dispatcher: this.options.dispatcher,
          headersTimeout: this.options.timeoutMs,
          bodyTimeout: this.options.timeoutMs,
          headers: { authorization: `Bearer ${token.value}`, accept: "application/json", "user-agent": this.options.userAgent ?? "audit-intake", ...call.headers },
          ...(call.body === undefined ? {} : { body: call.body }),
        });
        if (response.statusCode >= 200 && response.statusCode < 300) {
          report(false);
          return response;
        }
        if (response.statusCode === 401 && token.reused) {
          this.forget(token.value);
          await response.body.dump();
          throw new ApiError("transient", 401, undefined, `${call.operation}: HTTP 401 with a token issued earlier; renewing it`);
        }
        throw await this.toError(call.operation, response, call);
      },
      toFailure: (error) => (error instanceof ApiError || error instanceof RunExpiredError ? error : networkError(call.operation, error)),
      refused: (error) => new ApiError("throttled", undefined, undefined, `${call.operation}: throttled, ${error.message}`, undefined, Math.ceil(error.waitMs), { cause: error }),
      onFailure: (failure) => {
        if (sent) report(failure.errorClass === "throttled");
      },
    });
    try {
      return JSON.parse(await readBody(body.body));
    } catch (error) {
      throw new ApiError("transient", 200, undefined, `${call.operation}: response is not JSON`, undefined, undefined, { cause: error });
    }
  }

  /** A token to send: the cached one until its renewal time, else one renewal shared by every caller. */
  private async bearer(): Promise<{ value: string; reused: boolean }> {
    const cached = this.token;
    if (cached && this.now() < cached.renewAt) return { value: cached.value, reused: true };
    this.renewing ??= this.requestToken().finally(() => {
      this.renewing = undefined;
    });
    try {
      const token = await this.renewing;
      return { value: token.value, reused: false };
    } catch (error) {
      // Renewal is early on purpose: a token that still has minutes to live carries on while Sophos ID is unwell.
      if (cached && this.now() < cached.expiresAt && error instanceof ApiError && error.errorClass !== "configuration") return { value: cached.value, reused: true };
      throw error;
    }
  }

  private forget(value: string): void {
    if (this.token?.value === value) this.token = undefined;
  }

  private async requestToken(): Promise<CachedToken> {
    const form = new URLSearchParams({ grant_type: "client_credentials", client_id: this.clientId, client_secret: this.options.credential.clientSecret, scope: "token" });
    const response = await sendThroughGate<Dispatcher.ResponseData, ApiError>(sendPolicy(this.options, this.credentialKey, this.sleep, this.random), {
      attempt: async (pass) => {
        await pass();
        const answer = await request(joinPath(new URL(this.idOrigin), "/api/v2/oauth2/token"), {
          method: "POST",
          dispatcher: this.options.dispatcher,
          headersTimeout: this.options.timeoutMs,
          bodyTimeout: this.options.timeoutMs,
          headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json", "user-agent": this.options.userAgent ?? "audit-intake" },
          body: form.toString(),
        });
        if (answer.statusCode >= 200 && answer.statusCode < 300) return answer;
        throw await this.toError("token", answer);
      },
      // Network errors name the host at most; the form (and its secret) is never in them.
      toFailure: (error) => (error instanceof ApiError ? error : networkError("token", error)),
      refused: (error) => new ApiError("throttled", undefined, undefined, `token: throttled, ${error.message}`, undefined, Math.ceil(error.waitMs), { cause: error }),
    });
    const issuedAt = this.now();
    let json: unknown;
    try {
      json = JSON.parse(await readBody(response.body));
    } catch (error) {
      throw new ApiError("transient", 200, undefined, "token: response is not JSON", undefined, undefined, { cause: error });
    }
    const token = parse(tokenSchema, "token", json);
    const lifetimeMs = token.expires_in * 1000;
    this.token = { value: token.access_token, renewAt: issuedAt + lifetimeMs - Math.min(RENEW_BEFORE_MS, lifetimeMs / 2), expiresAt: issuedAt + lifetimeMs };
    return this.token;
  }

  private async toError(operation: SophosOperation, response: Dispatcher.ResponseData, call?: Call): Promise<CallFailure> {
    let code: string | undefined;
    let message = "";
    try {
      const parsed = errorBodySchema.safeParse(JSON.parse(await readBody(response.body, MAX_ERROR_BODY)));
      if (parsed.success) {
        code = parsed.data.errorCode ?? parsed.data.error;
        message = parsed.data.message ?? "";
      }
    } catch {
      // Not Sophos's error JSON (a proxy's page): the status decides.
    }
    const retryAfter = response.headers["retry-after"];
    const retryAfterMs = parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, Date.now());
    const { errorClass, fix } = classifySophosError(operation, response.statusCode, this.clientId, call?.tenantId);
    const detail = `${operation}: HTTP ${response.statusCode}${code ? ` ${code}` : ""}${message ? `: ${message.slice(0, 300)}` : ""}`;
    // Not an ApiError class: the module's own error, which the gate neither retries nor holds for.
    if (errorClass === "expired") return new RunExpiredError(call?.tenantId ?? "(unknown)", call ? runIdOf(call.url) : "(unknown)", detail);
    return new ApiError(errorClass, response.statusCode, code, detail, fix, retryAfterMs);
  }
}

function checkedRunId(runId: string): string {
  if (!RUN_ID.test(runId)) throw new UntrustedUrlError("run id is not a Sophos run id");
  return runId;
}

/** The run id of a run's URL (…/runs/{id} or …/runs/{id}/results). */
function runIdOf(url: URL): string {
  const rest = url.pathname.slice(url.pathname.indexOf(RUNS_PATH) + RUNS_PATH.length + 1);
  return rest.split("/")[0] ?? "";
}

/** base's origin and path prefix, then path (which is ours: constants and checked ids). */
function joinPath(base: URL, path: string): URL {
  return new URL(`${base.origin}${base.pathname.replace(/\/$/, "")}${path}`);
}

function parse<S extends z.ZodType>(schema: S, operation: SophosOperation, json: unknown): z.infer<S> {
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ApiError("fatal", 200, undefined, `${operation}: unexpected response shape at ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
  }
  return parsed.data;
}

function networkError(operation: SophosOperation, error: unknown): ApiError {
  const code = (error as { code?: string })?.code;
  const text = error instanceof Error ? error.message : String(error);
  return new ApiError("transient", undefined, code, `${operation}: network error${code ? ` ${code}` : ""}: ${text}`, undefined, undefined, { cause: error });
}
