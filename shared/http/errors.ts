/**
 * A failed call to an HTTP API other than the Management Activity API (whose ManagementApiError carries
 * that API's own classes: subscriptions, expired content). The class tells the caller what to do; the fix,
 * when there is one, is what an operator must change, reported once.
 */
export type ApiErrorClass =
  | "throttled" // wait (Retry-After if given) and try again
  | "badWindow" // the query's time window is out of the API's limits: plan it again
  | "configuration" // permissions, consent or a tenant's setup: surface once with the fix, do not retry
  | "transient" // 408, 5xx, network, token requests without an answer: retry with backoff
  | "fatal"; // anything else: a bug or a contract change

export class ApiError extends Error {
  constructor(
    readonly errorClass: ApiErrorClass,
    readonly status: number | undefined,
    readonly code: string | undefined,
    message: string,
    readonly fix?: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ApiError";
  }
}

/** A URL our bearer token must not be sent to: off the API's origin, another tenant's, not https. */
export class UntrustedUrlError extends Error {
  constructor(reason: string) {
    super(`untrusted URL: ${reason}`);
    this.name = "UntrustedUrlError";
  }
}
