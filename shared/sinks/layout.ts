/**
 * Output layout: `{tenantId}/{contentType}/{yyyy}/{MM}/{dd}/{HH}/{contentId}.ndjson.gz`, by contentCreated (UTC).
 * Names are safe to type in a shell without quoting: Microsoft's content ids separate their parts
 * with `$` (`…$…$audit_sharepoint$…`), which a shell would expand, so `$` is written as `+`; anything
 * else outside a safe set (a literal `+` included, so the mapping stays one-to-one) is %-escaped, so
 * a forged id can never climb out of its folder.
 */
export function safeSegment(value: string): string {
  const escaped = value.replace(/[^A-Za-z0-9._$=-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).replaceAll("$", "+");
  return escaped.replace(/^\.+/, (dots) => "%2e".repeat(dots.length));
}

export function contentOutputPath(tenantId: string, contentType: string, contentId: string, contentCreated: string): string {
  const iso = new Date(contentCreated).toISOString();
  const [yyyy, MM, dd, HH] = [iso.slice(0, 4), iso.slice(5, 7), iso.slice(8, 10), iso.slice(11, 13)];
  return `${safeSegment(tenantId)}/${safeSegment(contentType)}/${yyyy}/${MM}/${dd}/${HH}/${safeSegment(contentId)}.ndjson.gz`;
}

/** Raw copy of a content blob that could not be parsed, for replay once the cause is fixed. */
export function failedContentPath(tenantId: string, contentType: string, contentId: string): string {
  return `failed/${safeSegment(tenantId)}/${safeSegment(contentType)}/${safeSegment(contentId)}.json`;
}

/** A queue message that failed validation, kept with the reason. */
export function rejectedMessagePath(messageId: string, now: number): string {
  return `rejected/${new Date(now).toISOString().slice(0, 10)}/${safeSegment(messageId)}.json`;
}
