/**
 * ISO 8601 as Elastic's date processor reads it (format `ISO8601`): a calendar date, optionally a time
 * (`T`, or a space as in alert Data's `2024-03-06 07:00:00Z`) with minutes, seconds and a fraction,
 * optionally a zone (`Z`, `±hh`, `±hhmm`, `±hh:mm`). No zone means UTC, as audit dates are written.
 */
const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;
const PLAIN_UTC_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;

/**
 * A date as Elastic's date processor writes it: ISO 8601 in UTC with milliseconds. Undefined when the
 * value is not an ISO 8601 date whose every part is in range (the 30th of February, hour 24, a bare
 * number or "March 6, 2024" are not dates, though JavaScript's Date would read them).
 */
export function isoTimestamp(value: unknown): string | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  // The usual form, UTC to the second, needs no round trip through Date: its text is the answer.
  if (value.length === 19 && PLAIN_UTC_SECONDS.test(value)) {
    const year = Number(value.slice(0, 4));
    const inRange = validDay(year, twoDigits(value, 5), twoDigits(value, 8)) && twoDigits(value, 11) <= 23 && twoDigits(value, 14) <= 59 && twoDigits(value, 17) <= 59;
    return inRange ? `${value}.000Z` : undefined;
  }
  const found = ISO_8601.exec(value);
  if (!found) return undefined;
  const [, y, mo, d, h = "00", mi = "00", s = "00", fraction = "", zulu, sign, zoneHours, zoneMinutes = "00"] = found;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number) as [number, number, number, number, number, number];
  if (!validDay(year, month, day) || hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (zulu === undefined && sign !== undefined) {
    const zh = Number(zoneHours);
    const zm = Number(zoneMinutes);
    if (zh > 18 || zm > 59) return undefined;
    offsetMinutes = (sign === "-" ? -1 : 1) * (zh * 60 + zm);
  }
  const milliseconds = Number(fraction.padEnd(3, "0").slice(0, 3));
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, milliseconds) - offsetMinutes * 60_000;
  // Date.UTC reads years 0–99 as 1900–1999; set the year as written.
  const at = new Date(utc);
  if (year < 100) at.setUTCFullYear(at.getUTCFullYear() - 1900);
  return at.toISOString();
}

function validDay(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  if (day <= 28) return true;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
}

/** The number two ASCII digits at `at` spell (checked to be digits by the caller's pattern); no substring made. */
function twoDigits(text: string, at: number): number {
  return (text.charCodeAt(at) - 48) * 10 + (text.charCodeAt(at + 1) - 48);
}
