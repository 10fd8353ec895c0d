import { describe, expect, it } from "vitest";
import { AGE_MARGIN_MS, apiTime, MAX_AGE_MS, MAX_WINDOW_MS, planWindows } from "../../shared/sources/o365-audit/windows.js";

const H = 3_600_000;
const now = Date.parse("2026-03-10T12:34:56.789Z");
const opts = { initialLookbackMs: 7 * 24 * H - 5 * 60_000, relistOverlapMs: H };

describe("window planning", () => {
  it("starts a first run the initial lookback back, in windows of at most 24 h, to the second", () => {
    const { windows, unreachableBeforeMs } = planWindows({ now, cursor: undefined, ...opts });
    expect(windows).toHaveLength(7);
    // The default lookback is the API's reach less the margin: the start is that reach's first whole second.
    expect(windows[0]!.start).toBe(Math.ceil((now - MAX_AGE_MS + AGE_MARGIN_MS) / 1000) * 1000);
    expect(windows.at(-1)!.end).toBe(Math.floor(now / 1000) * 1000);
    for (const w of windows) {
      expect(w.end - w.start).toBeLessThanOrEqual(MAX_WINDOW_MS);
      expect(w.start % 1000).toBe(0);
    }
    for (let i = 1; i < windows.length; i += 1) expect(windows[i]!.start).toBe(windows[i - 1]!.end);
    expect(unreachableBeforeMs).toBeUndefined();
  });

  it("re-lists from the cursor minus the overlap", () => {
    const cursor = now - 10 * 60_000;
    const { windows } = planWindows({ now, cursor, ...opts });
    expect(windows).toEqual([{ start: Math.floor((cursor - H) / 1000) * 1000, end: Math.floor(now / 1000) * 1000 }]);
  });

  it("never starts more than 7 days back, and reports the gap of a cursor older than that", () => {
    const cursor = now - 9 * 24 * H;
    const { windows, unreachableBeforeMs } = planWindows({ now, cursor, ...opts });
    expect(windows[0]!.start).toBeGreaterThanOrEqual(now - MAX_AGE_MS + AGE_MARGIN_MS - 1000);
    expect(unreachableBeforeMs).toBe(windows[0]!.start);
  });

  it("clamps an initial lookback longer than the API allows without calling it a gap", () => {
    const { windows, unreachableBeforeMs } = planWindows({ now, cursor: undefined, initialLookbackMs: 30 * 24 * H, relistOverlapMs: H });
    expect(now - windows[0]!.start).toBeLessThanOrEqual(MAX_AGE_MS - AGE_MARGIN_MS + 1000);
    expect(unreachableBeforeMs).toBeUndefined();
  });

  it("plans nothing when the cursor is in the future (clock skew) beyond the overlap", () => {
    expect(planWindows({ now, cursor: now + 2 * H, ...opts }).windows).toEqual([]);
  });

  it("formats times as the API wants them: UTC, seconds, no zone", () => {
    expect(apiTime(now)).toBe("2026-03-10T12:34:56");
  });
});
