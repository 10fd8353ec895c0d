import { type PipelinePolicy, tlsPolicy } from "@azure/core-rest-pipeline";
import { ClientCertificateCredential, ClientSecretCredential, type TokenCredential } from "@azure/identity";
import type { Settings } from "../config/settings.js";
import { KNOWN_LOGIN_HOSTS } from "./clouds.js";

export interface AuthOptions {
  /** A CA to trust for the login and API hosts: the local simulator's, never set on Azure. */
  trustedCa?: string;
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
  return (tenantId) => {
    let credential = credentials.get(tenantId);
    if (!credential) {
      const auth = settings.auth;
      credential =
        auth.kind === "secret"
          ? new ClientSecretCredential(tenantId, settings.clientId, auth.secret, common)
          : new ClientCertificateCredential(
              tenantId,
              settings.clientId,
              { certificatePath: auth.path, ...(auth.password ? { certificatePassword: auth.password } : {}) },
              common,
            );
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
