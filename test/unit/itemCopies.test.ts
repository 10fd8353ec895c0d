import { describe, expect, it } from "vitest";
import { firstCopyFilter } from "../../shared/pipeline/itemCopies.js";

/** A record's copies within one work item: the item writes the first, whatever the claims store answers. */

const claim = (recordId: string, hour = "2026-03-01T09") => ({ recordId, hour });

describe("a record's first copy within a work item", () => {
  it("is told from a later copy by its id and claim hour, as claims are", () => {
    const firstCopy = firstCopyFilter();
    expect(firstCopy(claim("r1"))).toBe(true);
    expect(firstCopy(claim("r2"))).toBe(true);
    expect(firstCopy(claim("r1"))).toBe(false);
    expect(firstCopy(claim("r1"))).toBe(false);
    // Another hour is another claim, so another record.
    expect(firstCopy(claim("r1", "2026-03-01T10"))).toBe(true);
    expect(firstCopy(claim("r1", "2026-03-01T10"))).toBe(false);
  });

  it("catches a copy that comes up to `window` records after the first, wherever the first fell", () => {
    const window = 5;
    for (let before = 0; before < 3 * window; before += 1) {
      for (let distance = 1; distance <= window; distance += 1) {
        const firstCopy = firstCopyFilter(window);
        for (let i = 0; i < before; i += 1) firstCopy(claim(`before${i}`));
        expect(firstCopy(claim("x"))).toBe(true);
        for (let i = 1; i < distance; i += 1) firstCopy(claim(`between${i}`));
        expect(firstCopy(claim("x")), `${before} records before, the copy ${distance} after`).toBe(false);
      }
    }
  });

  it("forgets a record more than two windows back, so that its memory stays bounded however long the item", () => {
    const window = 5;
    const firstCopy = firstCopyFilter(window);
    // "x" starts a generation; 2 × window records later it is held no more.
    expect(firstCopy(claim("x"))).toBe(true);
    for (let i = 1; i <= 2 * window; i += 1) expect(firstCopy(claim(`r${i}`))).toBe(true);
    expect(firstCopy(claim("x"))).toBe(true);
  });
});
