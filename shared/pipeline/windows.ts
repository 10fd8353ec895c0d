import type { ListingPlan, TimeWindow } from "../sources/source.js";

/**
 * Listing windows of any time-filtered API: pure, so an API's limits can be tested without a clock.
 * From (cursor − overlap), or (now − initial lookback) on a first run, to (now − delay), cut into
 * windows of at most `windowMs`, the start kept inside the API's reach (`maxAgeMs`, less a margin for
 * the time between planning and asking). Times are whole seconds, so a window names its work exactly.
 */
export interface WindowLimits {
  /** How far back the API answers at all. */
  maxAgeMs: number;
  /** Kept between the oldest start planned and that reach: a window may be asked for a while after it is planned. */
  ageMarginMs: number;
  /** The longest window one request or work item covers. */
  windowMs: number;
}

export interface WindowInput extends WindowLimits {
  now: number;
  /** The end of the last window whose work was all queued; undefined when the stream was never listed. */
  cursorMs: number | undefined;
  /** Windows end this far behind now (the API's own lag), 0 for none. */
  delayMs: number;
  /** Re-read this far behind the cursor, for what the API lists late. */
  overlapMs: number;
  initialLookbackMs: number;
}

const SECOND_MS = 1_000;
const floorToSecond = (ms: number) => Math.floor(ms / SECOND_MS) * SECOND_MS;
const ceilToSecond = (ms: number) => Math.ceil(ms / SECOND_MS) * SECOND_MS;

export function planTimeWindows({ now, cursorMs, delayMs, overlapMs, initialLookbackMs, maxAgeMs, ageMarginMs, windowMs }: WindowInput): ListingPlan {
  const end = floorToSecond(now - delayMs);
  const oldestAllowed = ceilToSecond(now - maxAgeMs + ageMarginMs);
  const wanted = floorToSecond(cursorMs === undefined ? now - initialLookbackMs : cursorMs - overlapMs);
  const start = Math.max(wanted, oldestAllowed);
  // Whole seconds, at least one: a zero step would never end.
  const step = Math.max(floorToSecond(windowMs), SECOND_MS);
  const windows: TimeWindow[] = [];
  for (let from = start; from < end; from += step) windows.push({ start: from, end: Math.min(from + step, end) });
  // Records before the reach are lost only when the cursor itself is there: a first run's lookback is a
  // choice, and the overlap behind a cursor still in reach was read before.
  return { windows, unreachableBeforeMs: cursorMs !== undefined && cursorMs < oldestAllowed ? oldestAllowed : undefined };
}

/** `2026-11-28T10:00:00.000Z` → `20261128T100000Z`. */
function compactTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(".000Z", "Z");
}

/** A window's work id, `20261128T100000Z-20261128T110000Z`: filename-safe, sorts by time, names the window exactly. */
export function windowWorkId(window: TimeWindow): string {
  return `${compactTime(window.start)}-${compactTime(window.end)}`;
}
