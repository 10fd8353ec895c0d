import { type PipelinePolicy, tlsPolicy } from "@azure/core-rest-pipeline";
import { ClientAssertionCredential, ClientCertificateCredential, ClientSecretCredential, ManagedIdentityCredential, type TokenCredential } from "@azure/identity";
import type { Settings } from "../config/settings.js";
import { CLOUDS, KNOWN_LOGIN_HOSTS } from "./clouds.js";

export interface AuthOptions {
  /** A CA to trust for the login and API hosts: the local simulator's, never set on Azure. */
  trustedCa?: string;
  /** Where the federated client assertion comes from; by default the managed identity's token. */
  assertionSource?: () => Promise<string>;
}

/**
 * One credential per tenant of the multi-tenant app registration, created on first use.
 * The SDK caches and refreshes the tokens; we never touch them.
 */
export function createCredentialFactory(settings: Settings, options: AuthOptions = {}): (tenantId: string) => TokenCredential {
  const credentials = new Map<string, TokenCredential>();
  const loginHost = new URL(settings.loginBaseUrl).host;
  const common = {
    authorityHost: settings.loginBaseUrl,
    // MSAL validates authorities against Microsoft's list; a simulator or proxy is not on it.
    disableInstanceDiscovery: !KNOWN_LOGIN_HOSTS.has(loginHost),
    additionalPolicies: [
      { policy: timeoutPolicy(settings.requestTimeoutMs), position: "perCall" as const },
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
      credentials.set(tenantId, credential);
    }
    return credential;
  };
}

/** Token and metadata requests get the same time limit as API calls; the SDK sets none by default. */
function timeoutPolicy(timeoutMs: number): PipelinePolicy {
  return {
    name: "auditIntakeTimeout",
    sendRequest(request, next) {
      if (!request.timeout) request.timeout = timeoutMs;
      return next(request);
    },
  };
}

/**
 * Secretless: the app's managed identity is a federated credential of the app registration, so its
 * token for the token-exchange audience is the client assertion. Nothing secret exists anywhere.
 */
function managedIdentityAssertion(clientId: string, settings: Settings): () => Promise<string> {
  const identity = new ManagedIdentityCredential({ clientId });
  const scope = `${CLOUDS[settings.cloud].federationAudience}/.default`;
  return async () => {
    const token = await identity.getToken(scope);
    if (!token) throw new Error("the managed identity issued no token for the federated client assertion");
    return token.token;
  };
}
