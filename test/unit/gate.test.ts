import { describe, expect, it } from "vitest";
import { GateClosedError, RequestGate } from "../../shared/http/gate.js";

/** A clock that moves only when told to; sleepers wake in order of their deadline as it passes them. */
function manualClock() {
  let now = 0;
  const sleepers: { at: number; wake: () => void }[] = [];
  return {
    clock: {
      now: () => now,
      sleep: (ms: number) => new Promise<void>((wake) => void sleepers.push({ at: now + ms, wake })),
    },
    async advance(ms: number) {
      now += ms;
      for (const sleeper of sleepers.filter((s) => s.at <= now)) {
        sleepers.splice(sleepers.indexOf(sleeper), 1);
        sleeper.wake();
      }
      // Let the woken callers run up to their next sleep or their end.
      for (let i = 0; i < 10; i += 1) await Promise.resolve();
    },
  };
}

describe("request gate", () => {
  it("lets callers through an open key at once", async () => {
    const { clock } = manualClock();
    const gate = new RequestGate(clock);
    await gate.pass("o365:a");
    await gate.pass("o365:a", 0);
    expect(gate.remaining("o365:a")).toBe(0);
  });

  it("holds every caller of a key until its time has passed, and only that key", async () => {
    const time = manualClock();
    const gate = new RequestGate(time.clock);
    gate.hold("o365:a", 1_000);
    const passed: string[] = [];
    const waiting = ["first", "second"].map((name) => gate.pass("o365:a").then(() => passed.push(name)));
    await gate.pass("o365:b");
    await time.advance(999);
    expect(passed).toEqual([]);
    await time.advance(1);
    await Promise.all(waiting);
    expect(passed).toEqual(["first", "second"]);
    expect(gate.remaining("o365:a")).toBe(0);
  });

  it("is extended by a longer hold and never cut short by a shorter one", async () => {
    const time = manualClock();
    const gate = new RequestGate(time.clock);
    gate.hold("o365:a", 1_000);
    let passed = false;
    const waiting = gate.pass("o365:a").then(() => (passed = true));
    await time.advance(500);
    gate.hold("o365:a", 2_000); // until 2,500
    gate.hold("o365:a", 100); // until 600: ignored
    expect(gate.remaining("o365:a")).toBe(2_000);
    await time.advance(500); // 1,000: the first hold is over, the second is not; the waiter sleeps again
    expect(passed).toBe(false);
    await time.advance(1_499);
    expect(passed).toBe(false);
    await time.advance(1);
    await waiting;
    expect(passed).toBe(true);
  });

  it("tells a caller that may not wait how long the key is held, and lets it through once open", async () => {
    const time = manualClock();
    const gate = new RequestGate(time.clock);
    gate.hold("o365:a", 1_500);
    await time.advance(400);
    const refused = await gate.pass("o365:a", 0).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(GateClosedError);
    expect(refused).toMatchObject({ key: "o365:a", waitMs: 1_100 });
    // A caller that may wait a little waits when that is enough, and is refused when it is not.
    await expect(gate.pass("o365:a", 1_000)).rejects.toBeInstanceOf(GateClosedError);
    const shortWait = gate.pass("o365:a", 2_000);
    await time.advance(1_100);
    await shortWait;
    await gate.pass("o365:a", 0);
  });

  it("ignores holds of no time", async () => {
    const { clock } = manualClock();
    const gate = new RequestGate(clock);
    gate.hold("o365:a", 0);
    gate.hold("o365:a", Number.NaN);
    expect(gate.remaining("o365:a")).toBe(0);
    await gate.pass("o365:a", 0);
  });

  it("waits on the real monotonic clock by default", async () => {
    const gate = new RequestGate();
    gate.hold("o365:a", 50);
    const started = performance.now();
    await gate.pass("o365:a");
    expect(performance.now() - started).toBeGreaterThanOrEqual(50);
  });
});

describe("request budget", () => {
  const budgetOf = (key: string) => (key.startsWith("graph:") ? { requests: 3, windowMs: 1_000 } : undefined);

  it("lets a key's budget through at once, then holds the next request until the oldest leaves the window", async () => {
    const time = manualClock();
    const gate = new RequestGate(time.clock, budgetOf);
    for (let i = 0; i < 3; i += 1) await gate.pass("graph:a");
    const passed: number[] = [];
    const fourth = gate.pass("graph:a").then(() => passed.push(time.clock.now()));
    await time.advance(999);
    expect(passed).toEqual([]);
    await time.advance(1);
    await fourth;
    expect(passed).toEqual([1_000]);
  });

  it("tells a caller that may not wait how long the budget holds it", async () => {
    const time = manualClock();
    const gate = new RequestGate(time.clock, budgetOf);
    for (let i = 0; i < 3; i += 1) {
      await gate.pass("graph:a");
      await time.advance(100);
    }
    await expect(gate.pass("graph:a", 0)).rejects.toMatchObject({ name: "GateClosedError", waitMs: 700 });
    expect(gate.remaining("graph:a")).toBe(700);
  });

  it("never lets concurrent callers past the budget, and leaves keys without one alone", async () => {
    const time = manualClock();
    const gate = new RequestGate(time.clock, budgetOf);
    const passedAt: number[] = [];
    const callers = Array.from({ length: 7 }, () => gate.pass("graph:a").then(() => passedAt.push(time.clock.now())));
    for (let i = 0; i < 10; i += 1) await gate.pass("o365:a");
    for (let t = 0; t < 3; t += 1) await time.advance(1_000);
    await Promise.all(callers);
    expect(passedAt).toEqual([0, 0, 0, 1_000, 1_000, 1_000, 2_000]);
    expect(gate.remaining("o365:a")).toBe(0);
  });

  it("adds a hold to the budget: whichever is longer decides", async () => {
    const time = manualClock();
    const gate = new RequestGate(time.clock, budgetOf);
    await gate.pass("graph:a");
    gate.hold("graph:a", 5_000);
    expect(gate.remaining("graph:a")).toBe(5_000);
    await time.advance(5_000);
    expect(gate.remaining("graph:a")).toBe(0);
  });
});
