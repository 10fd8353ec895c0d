import { afterEach, describe, expect, it, vi } from "vitest";
import { runOnSchedule } from "../../shared/local/schedule.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("local timer (NCRONTAB)", () => {
  it("runs at once, then on every tick, and leaves no timer behind when stopped", async () => {
    vi.useFakeTimers({ now: new Date("2026-01-01T00:00:00.500Z") });
    const runs: string[] = [];
    const stop = new AbortController();
    const done = runOnSchedule("0 */5 * * * *", async () => void runs.push(new Date().toISOString()), stop.signal);
    await vi.advanceTimersByTimeAsync(11 * 60_000);
    expect(runs).toEqual(["2026-01-01T00:00:00.500Z", "2026-01-01T00:05:00.000Z", "2026-01-01T00:10:00.000Z"]);
    expect(vi.getTimerCount()).toBe(1);
    stop.abort();
    await done;
    expect(vi.getTimerCount()).toBe(0);
  });

  it("does not run at all when already stopped", async () => {
    const stop = new AbortController();
    stop.abort();
    const run = vi.fn(async () => undefined);
    await runOnSchedule("*/1 * * * * *", run, stop.signal);
    expect(run).not.toHaveBeenCalled();
  });
});
