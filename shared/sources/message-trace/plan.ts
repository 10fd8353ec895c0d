import type { ListingPlan, TimeWindow } from "../source.js";

/**
 * Listing windows of Graph's message trace: pure, so its limits can be tested without a clock. Graph keeps
 * 90 days of message trace and answers at most 10 days per query (learn.microsoft.com/powershell/module/exchange/get-messagetracev2,
 * the service behind learn.microsoft.com/graph/api/messagetracingroot-list-messagetraces); it filters on
 * receivedDateTime, and windows are kept to the second so that a window names its work item exactly.
 */
const DAY_MS = 24 * 3_600_000;
export const MAX_QUERY_MS = 10 * DAY_MS;
export const MAX_AGE_MS = 90 * DAY_MS;
/**
 * Kept between the oldest start we plan and Graph's 90 days. Larger than a lister's own run: a window is
 * fetched by the worker, after its time on the queue, and a start past the reach by then is refused.
 */
export const AGE_MARGIN_MS = 15 * 60_000;

export interface MessageTracePlanInput {
  now: number;
  /** The end of the last window whose work was all queued; undefined when the stream was never listed. */
  cursorMs: number | undefined;
  /** Windows end this far behind now. */
  delayMs: number;
  /** Re-read this far behind the cursor. */
  overlapMs: number;
  initialLookbackMs: number;
  /** The longest window (the settings keep it from 1 minute to 10 days). */
  windowMs: number;
}

const SECOND_MS = 1_000;
const floorToSecond = (ms: number) => Math.floor(ms / SECOND_MS) * SECOND_MS;
const ceilToSecond = (ms: number) => Math.ceil(ms / SECOND_MS) * SECOND_MS;

export function planMessageTraceWindows({ now, cursorMs, delayMs, overlapMs, initialLookbackMs, windowMs }: MessageTracePlanInput): ListingPlan {
  const end = floorToSecond(now - delayMs);
  const oldestAllowed = ceilToSecond(now - MAX_AGE_MS + AGE_MARGIN_MS);
  const wanted = floorToSecond(cursorMs === undefined ? now - initialLookbackMs : cursorMs - overlapMs);
  const start = Math.max(wanted, oldestAllowed);
  // Whole seconds from 1 s to Graph's 10 days, whatever it is given: a zero step would never end.
  const step = Math.min(Math.max(floorToSecond(windowMs), SECOND_MS), MAX_QUERY_MS);
  const windows: TimeWindow[] = [];
  for (let from = start; from < end; from += step) windows.push({ start: from, end: Math.min(from + step, end) });
  // Rows before the reach are lost only when the cursor itself is there: a first run's lookback is a
  // choice, and the overlap behind a cursor still in reach was read before.
  return { windows, unreachableBeforeMs: cursorMs !== undefined && cursorMs < oldestAllowed ? oldestAllowed : undefined };
}
