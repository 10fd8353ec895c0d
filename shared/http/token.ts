/**
 * Token requests, for every API client: what the identity service answered, and what that means.
 */
/** What the identity service did in one getToken call: whether a request went out, and the status of its last answer. */
export interface IdentityExchange {
  sent: boolean;
  /** undefined when the last request got no answer (DNS, refused, reset, TLS, timeout). */
  status: number | undefined;
  /** Why the last request got no answer (ENOTFOUND, ECONNREFUSED, a TLS code, a timeout): the SDK's message drops it. */
  failure?: string;
}

/**
 * A token that could not be had, with what the identity service answered. @azure/identity turns every
 * failure into an error without the HTTP status (a refused connection and a wrong secret both become
 * "AuthenticationRequiredError" or "CredentialUnavailableError"), so the status is observed on the wire.
 */
export class TokenRequestError extends Error {
  constructor(
    message: string,
    readonly exchange: IdentityExchange,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "TokenRequestError";
  }
}

/**
 * A failed token request is a configuration error only when the identity service answered that the
 * request is wrong (400/401/403 with an AADSTS code: invalid_client, unauthorized_client, invalid_tenant…;
 * 404 for an authority that does not exist), or when it failed before anything was sent (a certificate
 * that cannot be read). No answer at all (DNS, refused, reset, TLS, timeout) and 408/429/5xx are transient.
 */
export function classifyTokenFailure(exchange: { sent: boolean; status: number | undefined }): "configuration" | "transient" {
  if (!exchange.sent) return "configuration";
  const { status } = exchange;
  if (status === undefined || status === 408 || status === 429 || status >= 500) return "transient";
  return status >= 400 ? "configuration" : "transient";
}
