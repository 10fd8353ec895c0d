import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { type Dispatcher, request } from "undici";
import type { z } from "zod";
import { CONTENT_CHUNK_BYTES } from "../../pipeline/records.js";
import { type ApiClientOptions, parseRetryAfter, readBody, sendPolicy, sendThroughGate, tokenFor } from "../../http/send.js";
import type { ContentType } from "../../entra/clouds.js";
import { classify, ManagementApiError } from "./errors.js";
import { type ContentItem, contentListSchema, errorBodySchema, type Subscription, subscriptionListSchema } from "./schemas.js";
import { assertFeedUrl, feedUrl } from "./urls.js";
import { apiTime, type Window } from "./windows.js";

/** What the client tells its caller about every request, for metrics and progress. */
export interface RequestEvent {
  tenantId: string;
  /** The content type the request is for, when it is for one (not subscriptions/list). */
  contentType: ContentType | undefined;
  operation: "start" | "list" | "subscriptions" | "content";
  status: number | undefined;
  errorClass?: ManagementApiError["errorClass"];
  durationMs: number;
}

export interface ManagementApiClientOptions extends ApiClientOptions {
  apiBaseUrl: string;
  /**
   * Sent as PublisherIdentifier on every call (downloads too) so that quota is counted per publisher;
   * without one, the tenant's own id is sent, as Microsoft recommends for single-tenant use.
   */
  publisherId: string | undefined;
  onRequest?: (event: RequestEvent) => void;
}

/** Error bodies are small JSON; anything bigger is not worth reading into memory. */
const MAX_ERROR_BODY = 64 * 1024;

/**
 * Client of the Office 365 Management Activity API for many tenants.
 * Retries are hand-rolled because their timing is the server's (Retry-After, error codes in
 * bodies, throttling as 403) rather than a generic HTTP policy's.
 */
export class ManagementApiClient {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(private readonly options: ManagementApiClientOptions) {
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
  }

  get scope(): string {
    return `${new URL(this.options.apiBaseUrl).origin}/.default`;
  }

  /** Starts a subscription; "already enabled" (AF20024) is success. */
  async startSubscription(tenantId: string, contentType: ContentType): Promise<void> {
    const url = feedUrl(this.options.apiBaseUrl, tenantId, "subscriptions/start");
    url.searchParams.set("contentType", contentType);
    try {
      const body = await this.send(tenantId, contentType, "start", "POST", url);
      body.resume();
    } catch (error) {
      if (error instanceof ManagementApiError && error.code === "AF20024") return;
      throw error;
    }
  }

  async listSubscriptions(tenantId: string): Promise<Subscription[]> {
    const url = feedUrl(this.options.apiBaseUrl, tenantId, "subscriptions/list");
    return this.readJson(await this.send(tenantId, undefined, "subscriptions", "GET", url), subscriptionListSchema, "subscriptions/list");
  }

  /** Every page of available content in one window, following NextPageUri to the last page. */
  async *listContent(tenantId: string, contentType: ContentType, window: Window): AsyncGenerator<ContentItem[]> {
    let url: URL | undefined = feedUrl(this.options.apiBaseUrl, tenantId, "subscriptions/content");
    url.searchParams.set("contentType", contentType);
    url.searchParams.set("startTime", apiTime(window.start));
    url.searchParams.set("endTime", apiTime(window.end));
    while (url) {
      let next: string | undefined;
      const body = await this.send(tenantId, contentType, "list", "GET", url, (headers) => {
        next = header(headers, "nextpageuri");
      });
      yield await this.readJson(body, contentListSchema, "subscriptions/content");
      url = next ? assertFeedUrl(this.options.apiBaseUrl, tenantId, next) : undefined;
    }
  }

  /** The content blob as a byte stream (decompressed); the caller parses it as it arrives. */
  async openContent(tenantId: string, contentUri: string, contentType?: ContentType): Promise<Readable> {
    const url = assertFeedUrl(this.options.apiBaseUrl, tenantId, contentUri);
    let gzip = false;
    const body = await this.send(tenantId, contentType, "content", "GET", url, (headers) => {
      gzip = header(headers, "content-encoding")?.toLowerCase() === "gzip";
    });
    return gzip ? body.pipe(createGunzip({ chunkSize: CONTENT_CHUNK_BYTES })) : body;
  }

  private async send(
    tenantId: string,
    contentType: ContentType | undefined,
    operation: RequestEvent["operation"],
    method: "GET" | "POST",
    url: URL,
    onHeaders?: (headers: Dispatcher.ResponseData["headers"]) => void,
  ): Promise<Readable> {
    const target = new URL(url);
    target.searchParams.set("PublisherIdentifier", this.options.publisherId ?? tenantId);
    let started = Date.now();
    return sendThroughGate<Readable, ManagementApiError>(
      sendPolicy(this.options, `o365:${tenantId.toLowerCase()}`, this.sleep, this.random),
      {
        attempt: async (pass) => {
          started = Date.now();
          const token = await tokenFor(this.options.credentialFor(tenantId), this.scope, tenantId, (failure, cause) => new ManagementApiError(failure.errorClass, failure.status, "token", failure.message, undefined, { cause }));
          await pass();
          started = Date.now(); // a request's duration is the API's time, not the gate's
          const response = await request(target, {
            method,
            dispatcher: this.options.dispatcher,
            headersTimeout: this.options.timeoutMs,
            bodyTimeout: this.options.timeoutMs,
            headers: {
              authorization: `Bearer ${token}`,
              accept: "application/json",
              "accept-encoding": "gzip",
              "user-agent": this.options.userAgent ?? "audit-intake",
              ...(method === "POST" ? { "content-length": "0" } : {}),
            },
          });
          if (response.statusCode < 200 || response.statusCode >= 300) throw await this.toError(response, operation);
          this.options.onRequest?.({ tenantId, contentType, operation, status: response.statusCode, durationMs: Date.now() - started });
          onHeaders?.(response.headers);
          return response.body;
        },
        toFailure: (error) => (error instanceof ManagementApiError ? error : networkError(error, operation)),
        refused: (error) => new ManagementApiError("throttled", undefined, undefined, `${operation}: throttled, ${error.message}`, Math.ceil(error.waitMs), { cause: error }),
        onFailure: (failure) =>
          this.options.onRequest?.({ tenantId, contentType, operation, status: failure.status, errorClass: failure.errorClass, durationMs: Date.now() - started }),
      },
    );
  }

  private async toError(response: Dispatcher.ResponseData, operation: string): Promise<ManagementApiError> {
    let code: string | undefined;
    let message = "";
    try {
      const text = await readBody(response.body, MAX_ERROR_BODY);
      const parsed = errorBodySchema.safeParse(JSON.parse(text));
      if (parsed.success) {
        code = parsed.data.error.code;
        message = parsed.data.error.message ?? "";
      }
    } catch {
      // A body that is not the API's error JSON (a proxy's HTML page, say): the status decides.
    }
    const retryAfterMs = parseRetryAfter(header(response.headers, "retry-after"), Date.now());
    const errorClass = classify(response.statusCode, code);
    const detail = `${operation}: HTTP ${response.statusCode}${code ? ` ${code}` : ""}${message ? `: ${message.slice(0, 300)}` : ""}`;
    return new ManagementApiError(errorClass, response.statusCode, code, detail, retryAfterMs);
  }

  private async readJson<T>(body: Readable, schema: z.ZodType<T>, what: string): Promise<T> {
    const text = await readBody(body);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new ManagementApiError("transient", 200, undefined, `${what}: response is not JSON`, undefined, { cause: error });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ManagementApiError("fatal", 200, undefined, `${what}: unexpected response shape at ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
    }
    return parsed.data;
  }
}

function header(headers: Dispatcher.ResponseData["headers"], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function networkError(error: unknown, operation: string): ManagementApiError {
  const code = (error as { code?: string })?.code;
  const text = error instanceof Error ? error.message : String(error);
  return new ManagementApiError("transient", undefined, code, `${operation}: network error${code ? ` ${code}` : ""}: ${text}`, undefined, { cause: error });
}

