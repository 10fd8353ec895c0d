import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { InvalidContentError, ParsedRecord, streamRecords, UnreadableRecord } from "../../shared/pipeline/records.js";

/** The records handed on: each value, as the tests read them, or what could not be read. */
async function collect(chunks: (string | Buffer)[]): Promise<unknown[]> {
  return (await collectParsed(chunks)).map((record) => (record instanceof ParsedRecord ? record.value : record));
}

async function collectParsed(chunks: (string | Buffer)[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const records of streamRecords(Readable.from(chunks.map((c) => (typeof c === "string" ? Buffer.from(c) : c))))) out.push(...records);
  return out;
}

describe("streaming records out of a content blob", () => {
  it("yields each element of the top-level array, across chunk boundaries", async () => {
    const records = await collect(['\uFEFF  [{"Id":"a","N":1},', '{"Id":"b","Nested":{"x":[1,2', ',3]}}', ",  null, 5 ]"]);
    expect(records).toEqual([{ Id: "a", N: 1 }, { Id: "b", Nested: { x: [1, 2, 3] } }, null, 5]);
  });

  it("hands on the records a piece of the stream completes together, and nothing for a piece that completes none", async () => {
    const batches: unknown[][] = [];
    for await (const records of streamRecords(Readable.from(['[{"Id":"a"},{"Id":"b"},{"Id"', ':"c"', '},{"Id":"d"}]'].map((c) => Buffer.from(c))))) {
      batches.push(records.map((record) => (record as ParsedRecord).value));
    }
    expect(batches).toEqual([[{ Id: "a" }, { Id: "b" }], [{ Id: "c" }, { Id: "d" }]]);
  });

  it("hands each record on with the text it was parsed from, as the content has it, even across pieces", async () => {
    const records = await collectParsed(['[{"Id":"a","Name":"caf\\u00e9"},', '{"Id":"b","Nested":{"x":[1,', '2]}}, {"Id":"c", "Say": "é"}]']);
    expect(records).toEqual([
      new ParsedRecord({ Id: "a", Name: "café" }, '{"Id":"a","Name":"caf\\u00e9"}'),
      new ParsedRecord({ Id: "b", Nested: { x: [1, 2] } }, '{"Id":"b","Nested":{"x":[1,2]}}'),
      new ParsedRecord({ Id: "c", Say: "é" }, '{"Id":"c", "Say": "é"}'),
    ]);
  });

  it("accepts an empty array", async () => {
    expect(await collect(["[]"])).toEqual([]);
  });

  it("hands on an element that is not JSON as an UnreadableRecord in its place, saying where it is, and reads on", async () => {
    const records = await collect(['[{"Id":"a"},{"Id": nope},{"I', 'd":"c"}]']);
    expect(records).toEqual([{ Id: "a" }, expect.any(UnreadableRecord), { Id: "c" }]);
    expect(records[1]).toEqual(
      new UnreadableRecord('{"Id": nope}', expect.stringMatching(/^element 2 at line 1 column 13 is not valid JSON: Unexpected token .*; it starts at byte offset 12$/) as string),
    );
  });

  it("keeps text after the array as an UnreadableRecord", async () => {
    expect(await collect(['[{"Id":"a"}] trailing'])).toEqual([
      { Id: "a" },
      new UnreadableRecord("trailing", "text at line 1 column 14 is outside the JSON array, which ends at line 1 column 12; it starts at byte offset 13"),
    ]);
  });

  it.each([
    [['{"Id":"a"}'], /not a JSON array \(starts with "\{"\)/],
    [["\uFEFF", '{"Id":"a"}'], /not a JSON array \(starts with "\{"\)/],
    [[Buffer.from([0xef, 0xbb]), Buffer.from("[]")], /not a JSON array \(starts with "ï"\)/],
    [["   "], /content is empty/],
    [["\uFEFF \n"], /content is empty/],
    [[], /content is empty/],
    [["<html>throttled</html>"], /not a JSON array/],
    [['[{"Id":"a"},{"Id":'], /^content is cut short: element 2 at line 1 column 13 is not valid JSON: the input ends inside it, at line 1 column 19 \(offset 18\)$/],
    [['[{"Id":"a"},{"Id":"b"}'], /^content is cut short: the JSON array at line 1 column 1 is not closed: the input ends at line 1 column 23 \(offset 22\)$/],
    [['[{"Id":"a"},'], /^content is cut short: the JSON array at line 1 column 1 is not closed/],
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
