import { describe, expect, it, vi } from "vitest";
import { WORKER_V8_FLAGS } from "../../shared/util/v8Flags.js";
import { cleanupAfterEach, Clock, collector } from "../helpers/harness.js";
import { simulator, TENANT_A, tenants } from "../helpers/simulator.js";

const setFlagsFromString = vi.hoisted(() => vi.fn());
vi.mock("node:v8", async (importOriginal) => ({ ...(await importOriginal<typeof import("node:v8")>()), setFlagsFromString }));

const cleanups = cleanupAfterEach();

describe("a worker process's V8 flags", () => {
  it("are set when the process makes its runtime, before it works any item", async () => {
    const clock = new Clock(Date.now());
    const sim = await simulator({ tenants: tenants([TENANT_A]), from: clock.now() - 3_600_000, to: clock.now(), now: clock.now, seed: 3 });
    cleanups.push(() => sim.stop());
    expect(setFlagsFromString).not.toHaveBeenCalled();
    const c = await collector(sim, clock, { O365_TENANT_IDS: TENANT_A });
    cleanups.push(() => c.close());
    expect(setFlagsFromString.mock.calls).toEqual(WORKER_V8_FLAGS.map((flag) => [flag]));
    expect(c.runtime.stats.processed).toBe(0);
  });
});
