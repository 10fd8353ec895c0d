/**
 * Output layout: `{dataset}/{tenantId}/{stream}/{yyyy}/{MM}/{dd}/{HH}/{workId}.ndjson.gz`, by the work's
 * `created` (UTC). The dataset leads, so a consumer (Elastic Agent's Azure Blob Storage input) routes each
 * file to its data stream by prefix. Names are safe to type in a shell without quoting: Microsoft's content ids separate their parts
 * with `$` (`…$…$audit_sharepoint$…`), which a shell would expand, so `$` is written as `+`; anything
 * else outside a safe set (a literal `+` included, so the mapping stays one-to-one) is %-escaped, so
 * a forged id can never climb out of its folder.
 */
export function safeSegment(value: string): string {
  const escaped = value.replace(/[^A-Za-z0-9._$=-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).replaceAll("$", "+");
  return escaped.replace(/^\.+/, (dots) => "%2e".repeat(dots.length));
}

export interface OutputRef {
  dataset: string;
  tenantId: string;
  stream: string;
  workId: string;
  /** ISO date-time: the hour folder. */
  created: string;
}

export function workOutputPath({ dataset, tenantId, stream, workId, created }: OutputRef): string {
  const iso = new Date(created).toISOString();
  const [yyyy, MM, dd, HH] = [iso.slice(0, 4), iso.slice(5, 7), iso.slice(8, 10), iso.slice(11, 13)];
  return `${safeSegment(dataset)}/${safeSegment(tenantId)}/${safeSegment(stream)}/${yyyy}/${MM}/${dd}/${HH}/${safeSegment(workId)}.ndjson.gz`;
}

/** Raw copy of a work item's content that could not be parsed, for replay once the cause is fixed. */
export function failedWorkPath({ dataset, tenantId, stream, workId }: Omit<OutputRef, "created">): string {
  return `failed/${safeSegment(dataset)}/${safeSegment(tenantId)}/${safeSegment(stream)}/${safeSegment(workId)}.json`;
}

/** A queue message that failed validation, kept with the reason. */
export function rejectedMessagePath(messageId: string, now: number): string {
  return `rejected/${new Date(now).toISOString().slice(0, 10)}/${safeSegment(messageId)}.json`;
}
