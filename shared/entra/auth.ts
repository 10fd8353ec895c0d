import { AsyncLocalStorage } from "node:async_hooks";
import { isRestError, type PipelinePolicy, RestError, tlsPolicy } from "@azure/core-rest-pipeline";
import { ClientAssertionCredential, ClientCertificateCredential, ClientSecretCredential, ManagedIdentityCredential, type TokenCredential } from "@azure/identity";
import type { EntraSettings } from "./settings.js";
import { type IdentityExchange, TokenRequestError } from "../http/token.js";
import { CLOUDS, KNOWN_LOGIN_HOSTS } from "./clouds.js";

export interface AuthOptions {
  /** The time limit of each token and metadata request. */
  requestTimeoutMs: number;
  /** A CA to trust for the login and API hosts: the local simulator's, never set on Azure. */
  trustedCa?: string;
  /** Where the federated client assertion comes from; by default the managed identity's token. */
  assertionSource?: () => Promise<string>;
}

/** The exchange of the getToken call in progress, seen by the pipeline policy that runs inside it. */
const currentExchange = new AsyncLocalStorage<IdentityExchange>();

/**
 * One credential per tenant of the multi-tenant app registration, created on first use.
 * The SDK caches and refreshes the tokens; we never touch them.
 */
export function createCredentialFactory(settings: EntraSettings, options: AuthOptions): (tenantId: string) => TokenCredential {
  const credentials = new Map<string, TokenCredential>();
  const loginHost = new URL(settings.loginBaseUrl).host;
  const common = {
    authorityHost: settings.loginBaseUrl,
    // MSAL validates authorities against Microsoft's list; a simulator or proxy is not on it.
    disableInstanceDiscovery: !KNOWN_LOGIN_HOSTS.has(loginHost),
    // The API client retries a failed token request with its own backoff, as it does every request;
    // a second layer of retries inside the SDK would multiply the attempts and the time spent.
    retryOptions: { maxRetries: 0 },
    additionalPolicies: [
      { policy: exchangePolicy, position: "perRetry" as const },
      { policy: timeoutPolicy(options.requestTimeoutMs), position: "perRetry" as const },
      ...(options.trustedCa ? [{ policy: tlsPolicy({ ca: options.trustedCa }), position: "perCall" as const }] : []),
    ],
  };
  const assertion = settings.auth.kind === "federated" ? (options.assertionSource ?? managedIdentityAssertion(settings.auth.managedIdentityClientId, settings)) : undefined;
  return (tenantId) => {
    let credential = credentials.get(tenantId);
    if (!credential) {
      const auth = settings.auth;
      credential =
        auth.kind === "secret"
          ? new ClientSecretCredential(tenantId, settings.clientId, auth.secret, common)
          : auth.kind === "federated"
            ? new ClientAssertionCredential(tenantId, settings.clientId, assertion as () => Promise<string>, common)
            : auth.kind === "certificate"
              ? new ClientCertificateCredential(tenantId, settings.clientId, { certificatePath: auth.path, ...(auth.password ? { certificatePassword: auth.password } : {}) }, common)
              : new ClientCertificateCredential(tenantId, settings.clientId, { certificate: auth.pem, ...(auth.password ? { certificatePassword: auth.password } : {}) }, common);
      credential = observed(credential);
      credentials.set(tenantId, credential);
    }
    return credential;
  };
}

/**
 * The credential, whose failures say what the identity service answered (see TokenRequestError).
 * After a 429 or 5xx, MSAL answers the same error again without sending anything until that answer's
 * Retry-After (60 s without one) has passed; such a failure is the credential's last answer, repeated.
 */
function observed(credential: TokenCredential): TokenCredential {
  let lastFailure: IdentityExchange | undefined;
  return {
    async getToken(scopes, options) {
      const exchange: IdentityExchange = { sent: false, status: undefined };
      try {
        const token = await currentExchange.run(exchange, () => credential.getToken(scopes, options));
        lastFailure = undefined;
        return token;
      } catch (error) {
        if (exchange.sent) lastFailure = exchange;
        throw new TokenRequestError(error instanceof Error ? error.message : String(error), exchange.sent ? exchange : (lastFailure ?? exchange), { cause: error });
      }
    },
  };
}

/** Records the status of every answer from the identity service (or its absence) on the getToken call's exchange. */
const exchangePolicy: PipelinePolicy = {
  name: "auditIntakeIdentityExchange",
  async sendRequest(request, next) {
    const exchange = currentExchange.getStore();
    if (exchange) exchange.sent = true;
    try {
      const response = await next(request);
      if (exchange) Object.assign(exchange, { status: response.status, failure: undefined });
      return response;
    } catch (error) {
      const status = isRestError(error) ? error.statusCode : undefined;
      const failure = status === undefined ? ((error as { code?: string }).code ?? String(error)) : undefined;
      if (exchange) Object.assign(exchange, { status, failure });
      throw error;
    }
  },
};

/**
 * Token and metadata requests get the same time limit as API calls; the SDK sets none by default.
 * The timer is ours, cleared however the request ends: the SDK's own (`request.timeout`) is cleared
 * only when an answer arrives, so every refused or reset request left a timer that kept the process
 * alive for the whole timeout after its work was done.
 */
function timeoutPolicy(timeoutMs: number): PipelinePolicy {
  return {
    name: "auditIntakeTimeout",
    async sendRequest(request, next) {
      const caller = request.abortSignal;
      const timeout = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        timeout.abort();
      }, timeoutMs);
      const abort = () => timeout.abort();
      caller?.addEventListener("abort", abort);
      if (caller?.aborted) timeout.abort();
      request.abortSignal = timeout.signal;
      try {
        return await next(request);
      } catch (error) {
        // The SDK reports an abort as such; say it was the time limit, as a network error would.
        if (timedOut) throw new RestError(`no answer within ${timeoutMs} ms`, { code: "ETIMEDOUT", request });
        throw error;
      } finally {
        clearTimeout(timer);
        caller?.removeEventListener("abort", abort);
        request.abortSignal = caller; // a retry gets a fresh timer of its own
      }
    },
  };
}

/**
 * Secretless: the app's managed identity is a federated credential of the app registration, so its
 * token for the token-exchange audience is the client assertion. Nothing secret exists anywhere.
 */
function managedIdentityAssertion(clientId: string, settings: EntraSettings): () => Promise<string> {
  const identity = new ManagedIdentityCredential({ clientId });
  const scope = `${CLOUDS[settings.cloud].federationAudience}/.default`;
  return async () => {
    const token = await identity.getToken(scope);
    if (!token) throw new Error("the managed identity issued no token for the federated client assertion");
    return token.token;
  };
}
