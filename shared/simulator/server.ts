import { constants, createPublicKey, randomBytes, verify, X509Certificate } from "node:crypto";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { once } from "node:events";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { CONTENT_TYPES, type ContentType } from "../entra/clouds.js";
import { generateCertificate } from "./certs.js";
import { GENERATORS, Prng, type TenantProfile } from "../sources/o365-audit/simulator/records.js";
import { json, readRequestBody } from "./http.js";

/**
 * A faithful stand-in for the Office 365 Management Activity API and its Entra ID token endpoint,
 * over HTTPS (the SDK refuses plain-http authorities). Content is generated up front from a seed,
 * so tests know exactly which records exist; fault knobs reproduce what the real service does.
 */
export interface SimulatorFaults {
  /** Share of API requests answered 403 with AF429 (the API's usual throttling answer). */
  throttle403Rate: number;
  /** Share answered 429 with a Retry-After header. */
  throttle429Rate: number;
  retryAfterSeconds: number;
  /** Share answered 500 AF50000 or a bare 503. */
  serverErrorRate: number;
  /** Share of token requests the identity endpoint answers 503 (an Entra ID outage), whatever their credentials. */
  tokenErrorRate: number;
  latencyMs: number;
  /** Share of blobs listed only lateDelayMs after their contentCreated. */
  lateRate: number;
  lateDelayMs: number;
  /** Share of records delivered again in a later blob of the same tenant and content type. */
  duplicateRate: number;
  /** Share of blobs whose download answers AF20051 (expired). */
  expiredRate: number;
  /** Share of blobs whose body is cut short (invalid JSON). */
  corruptRate: number;
  /** Subscriptions start disabled: listing answers AF20022 until subscriptions/start. */
  subscriptionsStartDisabled: boolean;
}

export const NO_FAULTS: SimulatorFaults = {
  throttle403Rate: 0,
  throttle429Rate: 0,
  retryAfterSeconds: 1,
  serverErrorRate: 0,
  tokenErrorRate: 0,
  latencyMs: 0,
  lateRate: 0,
  lateDelayMs: 30 * 60_000,
  duplicateRate: 0,
  expiredRate: 0,
  corruptRate: 0,
  subscriptionsStartDisabled: false,
};

export interface SimulatorOptions {
  tenants: TenantProfile[];
  contentTypes?: readonly ContentType[];
  clientId: string;
  /** Accepted client secret; omit to accept only certificate assertions. */
  clientSecret?: string;
  /** PEM certificate whose key signs client assertions; omit to refuse certificate auth. */
  clientCertificatePem?: string;
  /** A managed identity's token accepted as a federated client assertion; omit to refuse federation. */
  federatedAssertion?: string;
  /** Content is generated with contentCreated in [from, to). */
  from: number;
  to: number;
  blobIntervalMs: number;
  recordsPerBlob: [number, number];
  seed?: number;
  pageSize?: number;
  faults?: Partial<SimulatorFaults>;
  /** The tests' virtual clock: what content exists and is listable. Throttling windows run on real time. */
  now?: () => number;
  port?: number;
  /**
   * How long after a throttling answer was sent a request of the same tenant still counts as already
   * in flight, not early: the client cannot have read the answer before it sent that one (default 100 ms).
   */
  earlyGraceMs?: number;
  /** Further APIs served beside the Management Activity API (a feed's own module, e.g. Graph message trace). */
  routes?: SimulatorRoute[];
}

/** What the server shares with a route module: who a token belongs to, and the Retry-After bookkeeping. */
export interface SimulatorRouteContext {
  baseUrl: string;
  /** When the client sent the request (when it arrived, for a client in another process), on the clock of the Retry-After windows. */
  arrived: number;
  /** The tenant and scope a bearer token was issued for; undefined for a token this server never issued. */
  token(authorization: string | undefined): IssuedToken | undefined;
  /** Notes a Retry-After sent for key (a tenant of one API), so later requests inside it count as early. */
  retryAfterSent(key: string, retryAfterMs: number): void;
  /** Whether a request for key sent at arrived is inside a Retry-After sent earlier (past the grace). */
  isEarly(key: string, arrived: number): boolean;
}

export interface IssuedToken {
  tenantId: string;
  /** The scope the client asked for (the OAuth `scope` form field), e.g. `https://graph.microsoft.com/.default`. */
  scope: string;
}

/** Answers the request and resolves true, or resolves false to leave it to the next route and the Management Activity API. */
export type SimulatorRoute = (req: IncomingMessage, res: ServerResponse, url: URL, context: SimulatorRouteContext) => boolean | Promise<boolean>;

export interface SimulatedBlob {
  tenantId: string;
  contentType: ContentType;
  contentId: string;
  contentCreated: number;
  visibleAt: number;
  expired: boolean;
  corrupt: boolean;
  records: Record<string, unknown>[];
}

export interface SimulatorStats {
  apiRequests: number;
  tokenRequests: number;
  throttled: number;
  serverErrors: number;
  subscriptionsStarted: number;
  contentDownloads: number;
  /** API calls that arrived without PublisherIdentifier. */
  missingPublisher: number;
  /** The most content downloads of one tenant in flight at the same time. */
  maxConcurrentDownloads: number;
  /** API requests sent while their tenant was inside the Retry-After of an earlier answer (past earlyGraceMs). */
  earlyRequests: number;
  earlyRequestsByTenant: Record<string, number>;
}

export interface Simulator {
  apiBaseUrl: string;
  loginBaseUrl: string;
  /** PEM of the self-signed certificate the server presents: trust it, nothing else. */
  ca: string;
  faults: SimulatorFaults;
  stats: SimulatorStats;
  blobs: SimulatedBlob[];
  /** Record Ids that a perfect collector writes: every record of every blob that is neither expired nor corrupt. */
  expectedRecordIds(include?: (blob: SimulatedBlob) => boolean): Set<string>;
  stop(): Promise<void>;
}

const DAY = 24 * 3_600_000;
/** How often the simulator notes that its event loop is free (see retryAfterWindows). */
const TICK_MS = 10;
/** The header the simulator stamps on its in-process clients' requests with the moment they were sent. */
const SENT_AT_HEADER = "x-simulator-sent-at";

export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const faults: SimulatorFaults = { ...NO_FAULTS, ...options.faults };
  const now = options.now ?? Date.now;
  const prng = new Prng(options.seed ?? 1);
  const blobs = generateBlobs(options, faults, prng);
  const byUri = new Map(blobs.map((blob) => [blobKey(blob.tenantId, blob.contentId), blob]));
  const tenants = new Map(options.tenants.map((t) => [t.id.toLowerCase(), t]));
  const subscriptions = new Map<string, boolean>();
  // Scopes are recorded, not checked, for the Management Activity API: Entra ID issues a token for any
  // scope of a resource the app may call, and each API checks its own audience.
  const tokens = new Map<string, IssuedToken>();
  const stats: SimulatorStats = {
    apiRequests: 0,
    tokenRequests: 0,
    throttled: 0,
    serverErrors: 0,
    subscriptionsStarted: 0,
    contentDownloads: 0,
    missingPublisher: 0,
    maxConcurrentDownloads: 0,
    earlyRequests: 0,
    earlyRequestsByTenant: {},
  };
  const retryAfter = retryAfterWindows(options.earlyGraceMs ?? 100, () => baseUrl);
  const downloading = new Map<string, number>();
  const pageSize = options.pageSize ?? 50;
  const { cert, key } = await generateCertificate();
  let baseUrl = "";

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const arrived = retryAfter.arrival(req);
    const url = new URL(req.url ?? "/", baseUrl);
    const downloadTenant = /^\/api\/v1\.0\/([^/]+)\/activity\/feed\/audit\//.exec(url.pathname)?.[1]?.toLowerCase();
    if (downloadTenant) {
      const inFlight = (downloading.get(downloadTenant) ?? 0) + 1;
      downloading.set(downloadTenant, inFlight);
      stats.maxConcurrentDownloads = Math.max(stats.maxConcurrentDownloads, inFlight);
      res.once("close", () => downloading.set(downloadTenant, (downloading.get(downloadTenant) ?? 1) - 1));
    }
    if (faults.latencyMs > 0) await new Promise((r) => setTimeout(r, faults.latencyMs));
    const login = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/token)$/.exec(url.pathname);
    if (login) return authority(req, res, login[1] as string, login[2] as string);
    const context: SimulatorRouteContext = {
      baseUrl,
      arrived,
      token: (authorization) => tokens.get((authorization ?? "").replace(/^Bearer /, "")),
      retryAfterSent: (key, ms) => retryAfter.sent(key, ms),
      isEarly: (key, at) => retryAfter.isEarly(key, at),
    };
    for (const route of options.routes ?? []) if (await route(req, res, url, context)) return;
    const api = /^\/api\/v1\.0\/([^/]+)\/activity\/feed\/(.+)$/.exec(url.pathname);
    if (!api) return json(res, 404, { error: { code: "NotFound", message: "no such endpoint" } });
    stats.apiRequests += 1;
    const tenantId = (api[1] as string).toLowerCase();
    if (retryAfter.isEarly(tenantId, arrived)) {
      stats.earlyRequests += 1;
      stats.earlyRequestsByTenant[tenantId] = (stats.earlyRequestsByTenant[tenantId] ?? 0) + 1;
    }
    const tokenTenant = tokens.get((req.headers.authorization ?? "").replace(/^Bearer /, ""))?.tenantId;
    if (!tokenTenant) return json(res, 401, { error: { code: "AF10001", message: "Authorization has been denied for this request." } });
    if (tokenTenant !== tenantId) {
      return json(res, 401, { error: { code: "AF20010", message: `The tenant ID passed in the URL (${tenantId}) does not match the tenant ID passed in the access token (${tokenTenant}).` } });
    }
    if (!url.searchParams.get("PublisherIdentifier")) stats.missingPublisher += 1;
    const roll = prng.next();
    if (roll < faults.throttle403Rate) {
      stats.throttled += 1;
      // No Retry-After here, as Microsoft documents this answer: the API reference lists AF429 under Errors
      // and its "API throttling" section gives quotas, neither mentions a Retry-After; the troubleshooting
      // page shows the throttled blob download as only "Response Code 403" and this JSON body
      // (learn.microsoft.com/office/office-365-management-api/office-365-management-activity-api-reference#errors,
      // …/troubleshooting-the-office-365-management-activity-api). Clients back off on their own.
      return json(res, 403, { error: { code: "AF429", message: "Too many requests. Method=GetBlob, PublisherId=00000000-0000-0000-0000-000000000000" } });
    }
    if (roll < faults.throttle403Rate + faults.throttle429Rate) {
      stats.throttled += 1;
      json(res, 429, { error: { code: "AF429", message: "Too many requests." } }, { "retry-after": String(faults.retryAfterSeconds) });
      retryAfter.sent(tenantId, faults.retryAfterSeconds * 1000);
      return;
    }
    if (roll < faults.throttle403Rate + faults.throttle429Rate + faults.serverErrorRate) {
      stats.serverErrors += 1;
      return prng.chance(0.5) ? json(res, 500, { error: { code: "AF50000", message: "An internal error occurred." } }) : void res.writeHead(503).end();
    }
    const operation = api[2] as string;
    if (operation === "subscriptions/start" && req.method === "POST") return startSubscription(res, tenantId, url);
    if (operation === "subscriptions/list") {
      return json(res, 200, [...CONTENT_TYPES].map((contentType) => ({ contentType, status: subscriptions.get(`${tenantId}|${contentType}`) ? "enabled" : "disabled", webhook: null })));
    }
    if (operation === "subscriptions/content") return listContent(res, tenantId, url);
    if (operation.startsWith("audit/")) return download(req, res, tenantId, decodeURIComponent(operation.slice("audit/".length)));
    return json(res, 404, { error: { code: "NotFound", message: "no such endpoint" } });
  };

  const authority = async (req: IncomingMessage, res: ServerResponse, tenant: string, path: string) => {
    if (!tenants.has(tenant.toLowerCase())) return json(res, 400, { error: "invalid_tenant", error_description: `AADSTS90002: Tenant '${tenant}' not found.` });
    const issuer = `${baseUrl}/${tenant}/v2.0`;
    if (path.startsWith("v2.0")) {
      return json(res, 200, {
        issuer,
        token_endpoint: `${baseUrl}/${tenant}/oauth2/v2.0/token`,
        authorization_endpoint: `${baseUrl}/${tenant}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${baseUrl}/${tenant}/oauth2/v2.0/logout`,
        jwks_uri: `${baseUrl}/${tenant}/discovery/v2.0/keys`,
        response_types_supported: ["code", "id_token", "token"],
        token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
      });
    }
    stats.tokenRequests += 1;
    const form = new URLSearchParams(await readRequestBody(req));
    // Rolled only when the fault is on, so the seeded sequence of the other faults stays as it was.
    if (faults.tokenErrorRate > 0 && prng.chance(faults.tokenErrorRate)) {
      return json(res, 503, { error: "temporarily_unavailable", error_description: "AADSTS90033: A transient error has occurred. Please try again." });
    }
    if (form.get("client_id") !== options.clientId) {
      return json(res, 400, { error: "unauthorized_client", error_description: `AADSTS700016: Application with identifier '${form.get("client_id")}' was not found in the directory.` });
    }
    const secretOk = options.clientSecret !== undefined && form.get("client_secret") === options.clientSecret;
    const assertion = form.get("client_assertion");
    if (!secretOk && !(assertion && validAssertion(assertion, options))) {
      return json(res, 401, { error: "invalid_client", error_description: "AADSTS7000215: Invalid client secret provided." });
    }
    const token = randomBytes(24).toString("base64url");
    tokens.set(token, { tenantId: tenant.toLowerCase(), scope: form.get("scope") ?? "" });
    return json(res, 200, { token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599, access_token: token });
  };

  const startSubscription = (res: ServerResponse, tenantId: string, url: URL) => {
    const contentType = url.searchParams.get("contentType") as ContentType;
    if (!CONTENT_TYPES.includes(contentType)) return json(res, 400, { error: { code: "AF20020", message: `The specified content type is not valid.` } });
    const key = `${tenantId}|${contentType}`;
    if (subscriptions.get(key)) return json(res, 400, { error: { code: "AF20024", message: "The subscription is already enabled. No property change." } });
    subscriptions.set(key, true);
    stats.subscriptionsStarted += 1;
    return json(res, 200, { contentType, status: "enabled", webhook: null });
  };

  const listContent = (res: ServerResponse, tenantId: string, url: URL) => {
    const contentType = url.searchParams.get("contentType") as ContentType;
    if (!CONTENT_TYPES.includes(contentType)) return json(res, 400, { error: { code: "AF20020", message: "The specified content type is not valid." } });
    if (!subscriptions.get(`${tenantId}|${contentType}`)) {
      return json(res, 400, { error: { code: "AF20022", message: "No subscription found for the specified content type" } });
    }
    const start = url.searchParams.get("startTime");
    const end = url.searchParams.get("endTime");
    if ((start === null) !== (end === null)) return json(res, 400, { error: { code: "AF20030", message: "Start time and end time must both be specified (or both omitted)." } });
    const t = now();
    const from = start ? Date.parse(`${start}Z`) : t - DAY;
    const to = end ? Date.parse(`${end}Z`) : t;
    if (Number.isNaN(from) || Number.isNaN(to)) return json(res, 400, { error: { code: "AF20054", message: "Invalid syntax for start time or end time." } });
    if (to - from > DAY || to <= from) return json(res, 400, { error: { code: "AF20030", message: "Start time and end time must both be specified, and be no more than 24 hours apart, with start time prior to end time." } });
    if (from < t - 7 * DAY) return json(res, 400, { error: { code: "AF20055", message: "Start time cannot be more than 7 days in the past." } });
    const visible = blobs.filter((b) => b.tenantId === tenantId && b.contentType === contentType && b.contentCreated >= from && b.contentCreated < to && b.visibleAt <= t);
    const offset = Number(url.searchParams.get("nextPage") ?? 0);
    const page = visible.slice(offset, offset + pageSize);
    const headers: Record<string, string> = {};
    if (offset + pageSize < visible.length) {
      const next = new URL(url);
      next.searchParams.set("nextPage", String(offset + pageSize));
      headers.NextPageUri = next.toString();
    }
    return json(
      res,
      200,
      page.map((b) => ({
        contentType: b.contentType,
        contentId: b.contentId,
        contentUri: `${baseUrl}/api/v1.0/${b.tenantId}/activity/feed/audit/${b.contentId}`,
        contentCreated: new Date(b.contentCreated).toISOString(),
        contentExpiration: new Date(b.contentCreated + 7 * DAY).toISOString(),
      })),
      headers,
    );
  };

  const download = (req: IncomingMessage, res: ServerResponse, tenantId: string, contentId: string) => {
    const blob = byUri.get(blobKey(tenantId, contentId));
    if (!blob) return json(res, 400, { error: { code: "AF20050", message: `The specified content (${contentId}) doesn't exist.` } });
    stats.contentDownloads += 1;
    if (blob.expired) return json(res, 400, { error: { code: "AF20051", message: `Content requested with the key ${contentId} has already expired.` } });
    let body = Buffer.from(JSON.stringify(blob.records));
    if (blob.corrupt) body = body.subarray(0, Math.max(1, Math.floor(body.length / 2)));
    const gzip = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
    res.writeHead(200, { "content-type": "application/json; charset=utf-8", ...(gzip ? { "content-encoding": "gzip" } : {}) });
    res.end(gzip ? gzipSync(body) : body);
  };

  const server: Server = createServer({ cert, key }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { error: { code: "AF50000", message: String(error) } });
    });
  });
  server.keepAliveTimeout = 5_000;
  server.listen(options.port ?? 0, "127.0.0.1");
  await once(server, "listening");
  baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const tenant of options.tenants) {
    for (const contentType of options.contentTypes ?? CONTENT_TYPES) {
      if (!faults.subscriptionsStartDisabled) subscriptions.set(`${tenant.id.toLowerCase()}|${contentType}`, true);
    }
  }

  return {
    apiBaseUrl: baseUrl,
    loginBaseUrl: baseUrl,
    ca: cert,
    faults,
    stats,
    blobs,
    expectedRecordIds(include = () => true) {
      const ids = new Set<string>();
      for (const blob of blobs) {
        if (blob.expired || blob.corrupt || !include(blob)) continue;
        for (const record of blob.records) ids.add(record.Id as string);
      }
      return ids;
    },
    async stop() {
      retryAfter.stop();
      server.closeAllConnections();
      server.close();
      await once(server, "close").catch(() => undefined);
    },
  };
}

function generateBlobs(options: SimulatorOptions, faults: SimulatorFaults, prng: Prng): SimulatedBlob[] {
  const blobs: SimulatedBlob[] = [];
  let sequence = 0;
  for (const tenant of options.tenants) {
    const tenantId = tenant.id.toLowerCase();
    for (const contentType of options.contentTypes ?? CONTENT_TYPES) {
      const stream: SimulatedBlob[] = [];
      for (let created = options.from; created < options.to; created += options.blobIntervalMs) {
        const contentCreated = created + prng.int(0, Math.max(0, options.blobIntervalMs - 1000));
        const stamp = new Date(contentCreated).toISOString().replace(/\D/g, "").slice(0, 17);
        sequence += 1;
        const count = prng.int(options.recordsPerBlob[0], options.recordsPerBlob[1]);
        const records = Array.from({ length: count }, () => GENERATORS[contentType](prng, tenant, contentCreated - prng.int(1_000, 600_000)));
        stream.push({
          tenantId,
          contentType,
          contentId: `${stamp}${String(sequence).padStart(6, "0")}$${stamp}$${contentType.toLowerCase().replace(".", "_")}$${contentType.replace(".", "_")}$sim01`,
          contentCreated,
          visibleAt: prng.chance(faults.lateRate) ? contentCreated + faults.lateDelayMs : contentCreated,
          expired: prng.chance(faults.expiredRate),
          corrupt: prng.chance(faults.corruptRate),
          records,
        });
      }
      // Microsoft sometimes delivers a record again in a later blob: copy some forward.
      for (let i = 0; i < stream.length - 1; i += 1) {
        for (const record of (stream[i] as SimulatedBlob).records) {
          if (prng.chance(faults.duplicateRate)) (stream[prng.int(i + 1, stream.length - 1)] as SimulatedBlob).records.push({ ...record });
        }
      }
      blobs.push(...stream);
    }
  }
  return blobs;
}

/**
 * When each tenant was told to come back (on real, monotonic time: the virtual clock of the content does
 * not pass while a client waits). A request is early when the client sent it inside a Retry-After window,
 * counted from when that answer was sent, and after the grace for the answer to reach the client.
 */
function retryAfterWindows(graceMs: number, origin: () => string) {
  const windows = new Map<string, { from: number; until: number }[]>();
  // In tests the client shares the simulator's process and event loop, and a request can pass the client's
  // gate well before the simulator reads it: a new connection's TLS handshake takes several turns of a busy
  // loop (100-230 ms measured with the CPU taken by two other processes). So the moment undici creates the
  // request, right after the gate let it pass, is taken from undici's diagnostics channel and stamped on it,
  // with this simulator's nonce so that no other sender's header is believed (undici documents adding a
  // header there: docs/api/DiagnosticsChannel.md, `undici:request:create`).
  const nonce = randomBytes(8).toString("hex");
  const stamp = ({ request }: { request: { origin: unknown; addHeader(name: string, value: string): void } }) => {
    if (String(request.origin) === origin()) request.addHeader(SENT_AT_HEADER, `${nonce} ${performance.now()}`);
  };
  subscribe("undici:request:create", stamp as (message: unknown) => void);
  // A request without the stamp (from another process) is timed when the simulator reads it; if the loop
  // was blocked meanwhile, as the last tick shows, by the earliest moment it can have come.
  let lastTick = performance.now();
  const ticker = setInterval(() => (lastTick = performance.now()), TICK_MS).unref();
  return {
    arrival(req: IncomingMessage): number {
      const [sender, at] = String(req.headers[SENT_AT_HEADER] ?? "").split(" ");
      if (sender === nonce && at) return Number(at);
      return Math.min(performance.now(), lastTick + TICK_MS);
    },
    stop() {
      clearInterval(ticker);
      unsubscribe("undici:request:create", stamp as (message: unknown) => void);
    },
    sent(tenantId: string, retryAfterMs: number): void {
      if (retryAfterMs <= 0) return;
      const sentAt = performance.now();
      const open = windows.get(tenantId) ?? [];
      open.push({ from: sentAt + graceMs, until: sentAt + retryAfterMs });
      windows.set(tenantId, open);
    },
    isEarly(tenantId: string, arrived: number): boolean {
      const open = windows.get(tenantId)?.filter((w) => w.until > arrived);
      if (!open?.length) {
        windows.delete(tenantId);
        return false;
      }
      windows.set(tenantId, open);
      return open.some((w) => arrived >= w.from);
    },
  };
}

function blobKey(tenantId: string, contentId: string): string {
  return `${tenantId.toLowerCase()}|${contentId}`;
}


/** Checks a client assertion's signature against the registered certificate, as Entra ID does. */
function validAssertion(assertion: string, options: SimulatorOptions): boolean {
  if (options.federatedAssertion !== undefined && assertion === options.federatedAssertion) return true;
  if (!options.clientCertificatePem) return false;
  const [header, payload, signature] = assertion.split(".");
  if (!header || !payload || !signature) return false;
  try {
    const { alg } = JSON.parse(Buffer.from(header, "base64url").toString("utf8")) as { alg?: string };
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { iss?: string; sub?: string };
    if (claims.iss !== options.clientId || claims.sub !== options.clientId) return false;
    const publicKey = createPublicKey(new X509Certificate(options.clientCertificatePem).publicKey.export({ type: "spki", format: "pem" }));
    const data = Buffer.from(`${header}.${payload}`);
    const sig = Buffer.from(signature, "base64url");
    if (alg === "PS256") return verify("sha256", data, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
    if (alg === "RS256") return verify("sha256", data, publicKey, sig);
    return false;
  } catch {
    return false;
  }
}
