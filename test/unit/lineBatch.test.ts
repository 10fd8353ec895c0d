import { describe, expect, it } from "vitest";
import { LineBatch } from "../../shared/pipeline/lineBatch.js";

describe("a batch of encoded lines", () => {
  it("keeps the lines asked for, in order, as UTF-8, with each line's claim", () => {
    const batch = new LineBatch();
    const lines = ['{"a":"é"}\n', '{"b":"日本"}\n', '{"c":"😀"}\n', '{"d":1}\n'];
    lines.forEach((line, index) => batch.add(line, index % 2 === 0 ? { recordId: `r${index}`, hour: "2026-03-01T09" } : undefined));
    expect(batch.size).toBe(4);
    expect(batch.claims.map((claim) => claim?.recordId)).toEqual(["r0", undefined, "r2", undefined]);
    expect(batch.kept((index) => index !== 1).toString("utf8")).toBe(lines[0]! + lines[2]! + lines[3]!);
  });

  it("grows for lines larger than its buffer, and is reused empty after clear", () => {
    const batch = new LineBatch();
    const large = `${JSON.stringify({ text: "x".repeat(3 << 20) })}\n`;
    batch.add('{"first":1}\n', undefined);
    batch.add(large, undefined);
    expect(batch.kept(() => true).toString("utf8")).toBe(`{"first":1}\n${large}`);
    batch.clear();
    expect(batch.size).toBe(0);
    batch.add('{"next":1}\n', undefined);
    expect(batch.kept(() => true).toString("utf8")).toBe('{"next":1}\n');
  });
});
