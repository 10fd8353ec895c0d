import { beforeEach, describe, expect, it, vi } from "vitest";

const setFlagsFromString = vi.hoisted(() => vi.fn());
vi.mock("node:v8", () => ({ setFlagsFromString }));

describe("applyWorkerV8Flags", () => {
  beforeEach(() => {
    setFlagsFromString.mockClear();
    vi.resetModules();
  });

  it("sets each worker flag once per process, however often the runtime is made", async () => {
    const { applyWorkerV8Flags, WORKER_V8_FLAGS } = await import("../../shared/util/v8Flags.js");
    applyWorkerV8Flags();
    applyWorkerV8Flags();
    expect(setFlagsFromString.mock.calls).toEqual(WORKER_V8_FLAGS.map((flag) => [flag]));
    expect(WORKER_V8_FLAGS).toContain("--no-allocation-site-pretenuring");
  });
});
