import { describe, expect, it } from "vitest";
import { memoize } from "../../shared/ecs/doc.js";

describe("memoize: enrichment results remembered per key", () => {
  it("computes each key once, an undefined result included, and shares the frozen result", () => {
    const computed: string[] = [];
    const lookup = memoize(10, (key) => {
      computed.push(key);
      return key === "none" ? undefined : { key, nested: { length: key.length } };
    });
    const first = lookup("a");
    expect(lookup("a")).toBe(first);
    expect(Object.isFrozen(first) && Object.isFrozen(first?.nested)).toBe(true);
    expect(lookup("none")).toBeUndefined();
    expect(lookup("none")).toBeUndefined();
    expect(computed).toEqual(["a", "none"]);
  });

  it("starts again past its limit, so that its memory stays bounded", () => {
    const computed: string[] = [];
    const lookup = memoize(2, (key) => (computed.push(key), key.toUpperCase()));
    for (const key of ["a", "b", "c", "a"]) lookup(key);
    // "c" found the memory full (a, b) and cleared it, so "a" is computed again.
    expect(computed).toEqual(["a", "b", "c", "a"]);
  });
});
