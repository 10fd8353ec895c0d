import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { InvalidContentError, streamRecords } from "../../shared/pipeline/records.js";

async function collect(chunks: (string | Buffer)[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const record of streamRecords(Readable.from(chunks.map((c) => (typeof c === "string" ? Buffer.from(c) : c))))) out.push(record);
  return out;
}

describe("streaming records out of a content blob", () => {
  it("yields each element of the top-level array, across chunk boundaries", async () => {
    const records = await collect(['\uFEFF  [{"Id":"a","N":1},', '{"Id":"b","Nested":{"x":[1,2', ',3]}}', ",  null, 5 ]"]);
    expect(records).toEqual([{ Id: "a", N: 1 }, { Id: "b", Nested: { x: [1, 2, 3] } }, null, 5]);
  });

  it("accepts an empty array", async () => {
    expect(await collect(["[]"])).toEqual([]);
  });

  it.each([
    [['{"Id":"a"}'], /not a JSON array \(starts with "\{"\)/],
    [['[{"Id":"a"},{"Id":'], /not valid JSON/],
    [['[{"Id":"a"}] trailing'], /not valid JSON/],
    [["   "], /content is empty/],
    [["<html>throttled</html>"], /not a JSON array/],
  ])("refuses %j with an InvalidContentError", async (chunks, reason) => {
    const attempt = collect(chunks);
    await expect(attempt).rejects.toThrow(reason);
    await expect(collect(chunks)).rejects.toBeInstanceOf(InvalidContentError);
  });

  it("passes a network error through unchanged, so the queue retries it", async () => {
    const source = new Readable({ read() {} });
    const reading = (async () => {
      for await (const _ of streamRecords(source)) void _;
    })();
    source.push('[{"Id":"a"},');
    const error = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    source.destroy(error);
    await expect(reading).rejects.toMatchObject({ code: "ECONNRESET" });
  });
});
