import { parse as parseDomain } from "tldts";
import { memoize } from "./doc.js";

/**
 * url.* parts of an absolute url.original, with the registered domain, subdomain and top-level
 * domain from the public suffix list (tldts). A relative or unparsable URL is left as original only.
 */
export function urlParts(original: string): Record<string, unknown> | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(original)) return undefined;
  let url: URL;
  try {
    url = new URL(original);
  } catch {
    return undefined;
  }
  if (!url.hostname) return undefined;
  const domain = url.hostname.replace(/^\[|\]$/g, "");
  const suffix = domainParts(domain);
  return {
    scheme: url.protocol.slice(0, -1),
    domain,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: safeDecode(url.pathname),
    ...(url.search.length > 1 ? { query: url.search.slice(1) } : {}),
    ...(url.hash.length > 1 ? { fragment: url.hash.slice(1) } : {}),
    ...suffix,
  };
}

/** Registered domain, subdomain and TLD of a host, once per host: a tenant's few hosts recur in every record. */
export const domainParts = memoize(10_000, (host): Readonly<Record<string, string>> => {
  const found = parseDomain(host);
  return {
    ...(found.domain ? { registered_domain: found.domain } : {}),
    ...(found.subdomain ? { subdomain: found.subdomain } : {}),
    ...(found.publicSuffix && !found.isIp ? { top_level_domain: found.publicSuffix } : {}),
  };
});

/** Paths are shown as written in the record (SharePoint paths have spaces), not %-encoded. */
function safeDecode(path: string): string {
  if (!path.includes("%")) return path; // nothing to decode, the usual case
  try {
    return decodeURI(path);
  } catch {
    return path;
  }
}
