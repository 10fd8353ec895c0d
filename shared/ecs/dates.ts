const PLAIN_UTC_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;
const ZONE = /(?:Z|[+-]\d{2}:?\d{2})$/i;

/**
 * A date as Elastic's date processor writes it: ISO 8601 in UTC with milliseconds. Audit dates are
 * ISO 8601, usually UTC without a zone designator ("2022-04-01T00:00:01"), which means UTC.
 * Undefined when the value is not a date.
 */
export function isoTimestamp(value: unknown): string | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  // The usual form needs no round trip through Date, only a check that it is a real date; a day
  // past the 28th, the only part whose range depends on the month, is checked by Date.
  if (value.length === 19 && PLAIN_UTC_SECONDS.test(value)) {
    const month = twoDigits(value, 5);
    const day = twoDigits(value, 8);
    const inRange = month >= 1 && month <= 12 && day >= 1 && twoDigits(value, 11) <= 23 && twoDigits(value, 14) <= 59 && twoDigits(value, 17) <= 59;
    if (!inRange) return undefined;
    if (day <= 28) return `${value}.000Z`;
    const ms = Date.parse(`${value}Z`);
    return Number.isNaN(ms) || new Date(ms).getUTCDate() !== day ? undefined : `${value}.000Z`;
  }
  const ms = Date.parse(ZONE.test(value) ? value : `${value}Z`);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** The number two ASCII digits at `at` spell (checked to be digits by the caller's pattern); no substring made. */
function twoDigits(text: string, at: number): number {
  return (text.charCodeAt(at) - 48) * 10 + (text.charCodeAt(at + 1) - 48);
}
