const PLAIN_UTC_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;
const ZONE = /(?:Z|[+-]\d{2}:?\d{2})$/i;

/**
 * A date as Elastic's date processor writes it: ISO 8601 in UTC with milliseconds. Audit dates are
 * ISO 8601, usually UTC without a zone designator ("2022-04-01T00:00:01"), which means UTC.
 * Undefined when the value is not a date.
 */
export function isoTimestamp(value: unknown): string | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  // The usual form needs no round trip through Date, only a check that it is a real date.
  if (PLAIN_UTC_SECONDS.test(value)) {
    const ms = Date.parse(`${value}Z`);
    return Number.isNaN(ms) || new Date(ms).getUTCDate() !== Number(value.slice(8, 10)) ? undefined : `${value}.000Z`;
  }
  const ms = Date.parse(ZONE.test(value) ? value : `${value}Z`);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}
