import { UntrustedUrlError } from "../../http/errors.js";

/**
 * URLs of the Management Activity API, and the guard that keeps a forged queue message or a
 * hostile `NextPageUri` from pointing our bearer token at another host or another tenant.
 */
export function feedUrl(apiBaseUrl: string, tenantId: string, operation: string): URL {
  return new URL(`${apiBaseUrl}/api/v1.0/${encodeURIComponent(tenantId)}/activity/feed/${operation}`);
}

/**
 * Accepts only https URLs on the configured API origin whose path is under the tenant's feed.
 * Returns the parsed URL; throws UntrustedUrlError naming what is wrong (never echoing query strings).
 */
export function assertFeedUrl(apiBaseUrl: string, tenantId: string, candidate: string): URL {
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    throw new UntrustedUrlError("not a URL");
  }
  const api = new URL(apiBaseUrl);
  if (url.protocol !== "https:") throw new UntrustedUrlError(`scheme ${url.protocol} is not https`);
  if (url.username || url.password) throw new UntrustedUrlError("credentials in URL");
  if (url.host.toLowerCase() !== api.host.toLowerCase()) {
    throw new UntrustedUrlError(`host ${url.host} is not the API host ${api.host}`);
  }
  const prefix = `/api/v1.0/${tenantId.toLowerCase()}/activity/feed/`;
  // URL() has resolved plain dot segments; encoded separators or dots could still be decoded by a server.
  if (/%2f|%5c|%2e/i.test(url.pathname)) throw new UntrustedUrlError("encoded separators in path");
  if (!url.pathname.toLowerCase().startsWith(prefix)) {
    throw new UntrustedUrlError(`path is not under the feed of tenant ${tenantId}`);
  }
  return url;
}
