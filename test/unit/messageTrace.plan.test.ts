import { describe, expect, it } from "vitest";
import { AGE_MARGIN_MS, MAX_AGE_MS, MAX_QUERY_MS, type MessageTracePlanInput, planMessageTraceWindows } from "../../shared/sources/message-trace/plan.js";

const M = 60_000;
const H = 60 * M;
const DAY = 24 * H;
const now = Date.parse("2026-11-28T12:34:56.789Z");
const second = (ms: number) => Math.floor(ms / 1000) * 1000;
const base: MessageTracePlanInput = { now, cursorMs: undefined, delayMs: 5 * M, overlapMs: H, initialLookbackMs: DAY, windowMs: H };
const plan = (input: Partial<MessageTracePlanInput>) => planMessageTraceWindows({ ...base, ...input });

describe("message-trace window planning", () => {
  it("reaches the initial lookback back on a first run and ends the delay behind now, in windows of at most windowMs, oldest first, to the second", () => {
    const { windows, unreachableBeforeMs } = plan({});
    expect(windows[0]!.start).toBe(second(now - DAY));
    expect(windows.at(-1)!.end).toBe(second(now - 5 * M));
    expect(windows).toHaveLength(24); // 23 h 55 m in hour windows
    for (const [i, w] of windows.entries()) {
      expect(w.end - w.start).toBeGreaterThan(0);
      expect(w.end - w.start).toBeLessThanOrEqual(H);
      expect(w.start % 1000).toBe(0);
      expect(w.end % 1000).toBe(0);
      if (i > 0) expect(w.start).toBe(windows[i - 1]!.end);
    }
    expect(unreachableBeforeMs).toBeUndefined();
  });

  it.each([
    ["a cursor 10 minutes back: the overlap, then what is new", now - 10 * M, [[now - 10 * M - H, now - 10 * M], [now - 10 * M, now - 5 * M]]],
    ["a cursor at the end of the last window: the overlap is re-read", second(now - 5 * M), [[second(now - 5 * M) - H, second(now - 5 * M)]]],
  ])("re-reads behind the cursor: %s", (_name, cursorMs, expected) => {
    expect(plan({ cursorMs }).windows).toEqual(expected.map(([start, end]) => ({ start: second(start!), end: second(end!) })));
  });

  it.each([
    ["the cursor is ahead of now minus the delay (clock skew)", { cursorMs: now + 2 * H }],
    ["the delay puts the end before the start", { cursorMs: now - 30 * M, overlapMs: 0, delayMs: H }],
  ])("plans nothing when %s", (_name, input) => {
    expect(plan(input).windows).toEqual([]);
  });

  it("never plans a window longer than Graph's 10 days, whatever windowMs says", () => {
    const { windows } = plan({ initialLookbackMs: 30 * DAY, windowMs: 20 * DAY });
    expect(windows.length).toBe(3);
    for (const w of windows) expect(w.end - w.start).toBeLessThanOrEqual(MAX_QUERY_MS);
  });

  it("starts no further back than Graph's 90 days less the margin, and reports the gap of a cursor older than that", () => {
    const { windows, unreachableBeforeMs } = plan({ cursorMs: now - 100 * DAY, windowMs: 10 * DAY });
    const oldest = Math.ceil((now - MAX_AGE_MS + AGE_MARGIN_MS) / 1000) * 1000;
    expect(windows[0]!.start).toBe(oldest);
    expect(unreachableBeforeMs).toBe(oldest);
  });

  it.each([
    ["a first run's lookback of 90 days (a choice)", { cursorMs: undefined, initialLookbackMs: 90 * DAY }],
    ["the overlap behind a cursor still in reach (read before)", { cursorMs: now - MAX_AGE_MS + AGE_MARGIN_MS + M }],
  ])("clamps without calling it a gap: %s", (_name, input) => {
    const { windows, unreachableBeforeMs } = plan({ ...input, windowMs: 10 * DAY });
    expect(now - windows[0]!.start).toBeLessThanOrEqual(MAX_AGE_MS - AGE_MARGIN_MS);
    expect(unreachableBeforeMs).toBeUndefined();
  });

  it("keeps the windows whole seconds even when windowMs is not", () => {
    const { windows } = plan({ windowMs: 90_500 });
    for (const w of windows) expect([w.start % 1000, w.end % 1000]).toEqual([0, 0]);
    expect(windows[0]!.end - windows[0]!.start).toBe(90_000);
  });
});
