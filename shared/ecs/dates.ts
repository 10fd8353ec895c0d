/**
 * ISO 8601 as Elastic's date processor reads it (format `ISO8601`): a calendar date, optionally a time
 * (`T`, or a space as in alert Data's `2024-03-06 07:00:00Z`) with minutes, seconds and a fraction,
 * optionally a zone (`Z`, `±hh`, `±hhmm`, `±hh:mm`). No zone means UTC, as audit dates are written.
 */
const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;

/**
 * A date as Elastic's date processor writes it: ISO 8601 in UTC with milliseconds. Undefined when the
 * value is not an ISO 8601 date whose every part is in range (the 30th of February, hour 24, a bare
 * number or "March 6, 2024" are not dates, though JavaScript's Date would read them).
 */
export function isoTimestamp(value: unknown): string | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  // The usual forms, UTC to the second or a fraction of it, need no round trip through Date: the answer is their text.
  const plain = plainUtc(value);
  if (plain !== undefined) return plain === INVALID ? undefined : plain;
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

/** plainUtc's answer for a text of its form with a part out of range. */
const INVALID = "";

/**
 * The forms audit records and Graph write, `2024-01-10T10:00:00`, then optionally a fraction of 1–9
 * digits (`.1234567`), then optionally `Z`, read without a regular expression or a Date: the answer is
 * the text to the second and the fraction's first three digits, as the general path gives it. INVALID
 * for that form with a part out of range; undefined for any other form (the general path reads it).
 */
function plainUtc(value: string): string | undefined {
  const length = value.length;
  if (length < 19) return undefined;
  for (let at = 0; at < 19; at += 1) {
    const code = value.charCodeAt(at);
    const expected = PLAIN_SEPARATORS[at]!;
    if (expected === DIGIT ? code < 48 || code > 57 : code !== expected) return undefined;
  }
  let end = 19;
  let milliseconds = "000";
  if (end < length && value.charCodeAt(end) === 46 /* . */) {
    let digits = end + 1;
    while (digits < length && value.charCodeAt(digits) >= 48 && value.charCodeAt(digits) <= 57) digits += 1;
    const count = digits - end - 1;
    if (count < 1 || count > 9) return undefined;
    milliseconds = value.slice(end + 1, end + 1 + Math.min(count, 3)).padEnd(3, "0");
    end = digits;
  }
  if (end < length && value.charCodeAt(end) === 90 /* Z */) end += 1;
  if (end !== length) return undefined;
  const year = (value.charCodeAt(0) - 48) * 1000 + twoDigits(value, 1) * 10 + (value.charCodeAt(3) - 48);
  const inRange = validDay(year, twoDigits(value, 5), twoDigits(value, 8)) && twoDigits(value, 11) <= 23 && twoDigits(value, 14) <= 59 && twoDigits(value, 17) <= 59;
  return inRange ? `${value.slice(0, 19)}.${milliseconds}Z` : INVALID;
}

/** Each character of `yyyy-MM-ddTHH:mm:ss`: a digit, or the separator's code. */
const DIGIT = -1;
const PLAIN_SEPARATORS: readonly number[] = Array.from("0000-00-00T00:00:00", (char) => (char === "0" ? DIGIT : char.charCodeAt(0)));

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
