import { planTimeWindows } from "../../pipeline/windows.js";

/**
 * Listing windows of the Management Activity API, by the pipeline's planner with this API's limits.
 * The API accepts windows of at most 24 hours whose start is no more than 7 days back,
 * filters on when content became available, and takes times to the second.
 */
export const MAX_WINDOW_MS = 24 * 3_600_000;
export const MAX_AGE_MS = 7 * 24 * 3_600_000;
/** Kept between the oldest start we ask for and the API's 7-day limit, for the seconds a run takes. */
export const AGE_MARGIN_MS = 5 * 60_000;

export interface Window {
  start: number;
  end: number;
}

export interface WindowPlan {
  windows: Window[];
  /** Content that became available before this can no longer be listed: a gap the operator must hear about. */
  unreachableBeforeMs: number | undefined;
}

export interface PlanInput {
  now: number;
  /** End of the last window whose pages were all enqueued; undefined on a first run. */
  cursor: number | undefined;
  initialLookbackMs: number;
  relistOverlapMs: number;
}

export function planWindows({ now, cursor, initialLookbackMs, relistOverlapMs }: PlanInput): WindowPlan {
  const { windows, unreachableBeforeMs } = planTimeWindows({
    now,
    cursorMs: cursor,
    delayMs: 0,
    overlapMs: relistOverlapMs,
    initialLookbackMs,
    maxAgeMs: MAX_AGE_MS,
    ageMarginMs: AGE_MARGIN_MS,
    windowMs: MAX_WINDOW_MS,
  });
  return { windows, unreachableBeforeMs };
}

/** The API's time format: UTC, to the second, no zone designator. */
export function apiTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}
