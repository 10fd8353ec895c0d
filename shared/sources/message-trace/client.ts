import type { Readable } from "node:stream";
import { type Dispatcher, request } from "undici";
import { z } from "zod";
import { ApiError, UntrustedUrlError } from "../../http/errors.js";
import { type ApiClientOptions, parseRetryAfter, readBody, sendPolicy, sendThroughGate, tokenFor } from "../../http/send.js";
import type { RequestEvent } from "../source.js";
import { MESSAGE_TRACE_STREAM } from "./stream.js";

// Defined beside the feed's definition, which must not load this client; still found here by the client's users.
export { GRAPH_MESSAGE_TRACE_BUDGET, graphBudget } from "./stream.js";

/**
 * Client of Microsoft Graph's Exchange Online message trace, `GET /v1.0/admin/exchange/tracing/messageTraces`
 * (learn.microsoft.com/graph/api/messagetracingroot-list-messagetraces): pages of `exchangeMessageTrace`
 * items newest first, the next page at `@odata.nextLink`, to be followed as it is.
 */
export const MESSAGE_TRACES_PATH = "/v1.0/admin/exchange/tracing/messageTraces";

const OPERATION = "messageTraces";

/** The app whose service principal must exist in each customer tenant (issue 9; Graph answers 401 until it does). */
export const MESSAGE_TRACE_APP_ID = "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373";

export const SERVICE_PRINCIPAL_FIX =
  `provision the service principal of Microsoft's app ${MESSAGE_TRACE_APP_ID} in this tenant ` +
  `(Connect-MgGraph -Scopes Application.ReadWrite.All; New-MgServicePrincipal -AppId ${MESSAGE_TRACE_APP_ID}); ` +
  "it can take hours to take effect";
export const PERMISSION_FIX = "the app registration lacks the application permission ExchangeMessageTrace.Read.All, or admin consent was not granted in this tenant";

/** Graph's largest page (`$top` ≤ 5000): a window then costs as few requests of the quota as it can. */
const MAX_PAGE_SIZE = 5000;
const MAX_ERROR_BODY = 64 * 1024;

/**
 * A page of `exchangeMessageTrace` items (learn.microsoft.com/graph/api/resources/exchangemessagetrace).
 * Rows are passed on as they came: one malformed row must not fail its page (and with it every other row
 * of the window), so the normalizer reads each and writes one it cannot map as a pipeline_error document.
 */
const pageSchema = z.looseObject({
  value: z.array(z.unknown()),
  "@odata.nextLink": z.string().optional(),
});

/** Graph's error body: `{"error":{"code":…,"message":…}}`. */
const errorBodySchema = z.object({ error: z.object({ code: z.string().optional(), message: z.string().optional() }) });

export interface MessageTraceWindow {
  start: number;
  end: number;
}

export interface MessageTraceClientOptions extends ApiClientOptions {
  /** Graph's origin, `https://graph.microsoft.com` (message trace exists in the global cloud only). */
  graphBaseUrl: string;
  /** `$top`, 1 to 5000 (default 5000). */
  pageSize?: number;
  /** Every request that reached Graph (an answer, or a failure after it was sent), for the request and throttling metrics. */
  onRequest?: (event: RequestEvent) => void;
}

export class MessageTraceClient {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly origin: string;

  constructor(private readonly options: MessageTraceClientOptions) {
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    this.origin = new URL(options.graphBaseUrl).origin;
  }

  /** Graph's `.default` scope: the application permissions consented for the app. */
  get scope(): string {
    return `${this.origin}/.default`;
  }

  /** Every page of the rows received in the window (both ends included, as `ge`/`le` say), following `@odata.nextLink`. */
  async *listMessageTraces(tenantId: string, window: MessageTraceWindow): AsyncGenerator<unknown[]> {
    let url: URL | undefined = new URL(MESSAGE_TRACES_PATH, this.origin);
    url.searchParams.set("$filter", `receivedDateTime ge ${new Date(window.start).toISOString()} and receivedDateTime le ${new Date(window.end).toISOString()}`);
    url.searchParams.set("$top", String(this.options.pageSize ?? MAX_PAGE_SIZE));
    while (url) {
      const page = await this.readPage(await this.send(tenantId, url));
      yield page.value;
      const next = page["@odata.nextLink"];
      url = next === undefined ? undefined : this.assertGraphUrl(next);
    }
  }

  /**
   * The nextLink is followed verbatim, as Graph asks, but only on Graph's origin and the same resource:
   * our bearer token must never go to a host a response names.
   */
  private assertGraphUrl(candidate: string): URL {
    let url: URL;
    try {
      url = new URL(candidate);
    } catch {
      throw new UntrustedUrlError("not a URL");
    }
    if (url.protocol !== "https:") throw new UntrustedUrlError(`scheme ${url.protocol} is not https`);
    if (url.username || url.password) throw new UntrustedUrlError("credentials in URL");
    if (url.origin !== this.origin) throw new UntrustedUrlError(`host ${url.host} is not the Graph host ${new URL(this.origin).host}`);
    if (/%2f|%5c|%2e/i.test(url.pathname) || url.pathname !== MESSAGE_TRACES_PATH) throw new UntrustedUrlError("path is not the message-trace resource");
    return url;
  }

  private send(tenantId: string, url: URL): Promise<Readable> {
    // Set once an attempt has passed the gate: a failed token request or a refusal at the gate sent nothing to Graph.
    let sent = false;
    const report = (throttled: boolean) => this.options.onRequest?.({ tenantId, stream: MESSAGE_TRACE_STREAM, operation: OPERATION, throttled });
    return sendThroughGate<Readable, ApiError>(
      sendPolicy(this.options, `graph:${tenantId.toLowerCase()}`, this.sleep, this.random),
      {
        attempt: async (pass) => {
          sent = false;
          const token = await tokenFor(this.options.credentialFor(tenantId), this.scope, tenantId, (failure, cause) => new ApiError(failure.errorClass, failure.status, "token", failure.message, undefined, undefined, { cause }));
          await pass();
          sent = true;
          const response = await request(url, {
            method: "GET",
            dispatcher: this.options.dispatcher,
            headersTimeout: this.options.timeoutMs,
            bodyTimeout: this.options.timeoutMs,
            headers: { authorization: `Bearer ${token}`, accept: "application/json", "user-agent": this.options.userAgent ?? "audit-intake" },
          });
          if (response.statusCode < 200 || response.statusCode >= 300) throw await toError(response);
          report(false);
          return response.body;
        },
        toFailure: (error) => (error instanceof ApiError ? error : networkError(error)),
        refused: (error) => new ApiError("throttled", undefined, undefined, `messageTraces: throttled, ${error.message}`, undefined, Math.ceil(error.waitMs), { cause: error }),
        onFailure: (failure) => {
          if (sent) report(failure.errorClass === "throttled");
        },
      },
    );
  }

  private async readPage(body: Readable): Promise<z.infer<typeof pageSchema>> {
    let json: unknown;
    try {
      json = JSON.parse(await readBody(body));
    } catch (error) {
      throw new ApiError("transient", 200, undefined, "messageTraces: response is not JSON", undefined, undefined, { cause: error });
    }
    const parsed = pageSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ApiError("fatal", 200, undefined, `messageTraces: unexpected response shape at ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
    }
    return parsed.data;
  }
}

/**
 * 401 "Service principal-less Authentication failed" is a tenant without Microsoft's app's service principal;
 * any other 401/403 is our app's permission or consent. Every 400 is the window: the query carries nothing else
 * that a caller chooses ($top is ours and within Graph's range).
 */
export function classifyGraphError(status: number, message: string): { errorClass: ApiError["errorClass"]; fix?: string } {
  if (status === 401 && /service principal-less authentication failed/i.test(message)) return { errorClass: "configuration", fix: SERVICE_PRINCIPAL_FIX };
  if (status === 401 || status === 403) return { errorClass: "configuration", fix: PERMISSION_FIX };
  if (status === 400) return { errorClass: "badWindow" };
  if (status === 429) return { errorClass: "throttled" };
  if (status === 408 || status >= 500) return { errorClass: "transient" };
  return { errorClass: "fatal" };
}

async function toError(response: Dispatcher.ResponseData): Promise<ApiError> {
  let code: string | undefined;
  let message = "";
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(await readBody(response.body, MAX_ERROR_BODY)));
    if (parsed.success) {
      code = parsed.data.error.code;
      message = parsed.data.error.message ?? "";
    }
  } catch {
    // Not Graph's error JSON (a proxy's page): the status decides.
  }
  const retryAfter = response.headers["retry-after"];
  const retryAfterMs = parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, Date.now());
  const { errorClass, fix } = classifyGraphError(response.statusCode, message);
  const detail = `messageTraces: HTTP ${response.statusCode}${code ? ` ${code}` : ""}${message ? `: ${message.slice(0, 300)}` : ""}`;
  return new ApiError(errorClass, response.statusCode, code, detail, fix, retryAfterMs);
}

function networkError(error: unknown): ApiError {
  const code = (error as { code?: string })?.code;
  const text = error instanceof Error ? error.message : String(error);
  return new ApiError("transient", undefined, code, `messageTraces: network error${code ? ` ${code}` : ""}: ${text}`, undefined, undefined, { cause: error });
}

