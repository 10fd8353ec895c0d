import { planTimeWindows } from "../../pipeline/windows.js";
import type { ListingPlan } from "../source.js";

/**
 * Listing windows of Graph's message trace, by the pipeline's planner with Graph's limits. Graph keeps
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

export function planMessageTraceWindows({ windowMs, ...input }: MessageTracePlanInput): ListingPlan {
  // Graph's 10 days per query bound the window, whatever it is given.
  return planTimeWindows({ ...input, windowMs: Math.min(windowMs, MAX_QUERY_MS), maxAgeMs: MAX_AGE_MS, ageMarginMs: AGE_MARGIN_MS });
}
