import { describe, expect, it } from "vitest";
import { splitJson, type SplitItem } from "../../shared/pipeline/split.js";

async function* chunksOf(input: Buffer, sizes: () => number): AsyncGenerator<Buffer> {
  for (let at = 0; at < input.length; ) {
    const size = Math.max(1, sizes());
    yield input.subarray(at, at + size);
    at += size;
  }
}

async function split(input: string | Buffer, sizes: () => number = () => Number.MAX_SAFE_INTEGER): Promise<SplitItem[]> {
  const items: SplitItem[] = [];
  for await (const item of splitJson(chunksOf(typeof input === "string" ? Buffer.from(input) : input, sizes))) items.push(item);
  return items;
}

const values = (items: SplitItem[]) => items.map((item) => (item.kind === "value" ? item.value : { error: item.message }));
const errors = (items: SplitItem[]) => items.flatMap((item) => (item.kind === "error" ? [item] : []));

/** Where `needle` starts in `input`, as the splitter counts it: byte offset, 1-based line and column in characters. */
function positionOf(input: string, needle: string, from = 0) {
  const index = input.indexOf(needle, from);
  const before = input.slice(0, index);
  const lineStart = before.lastIndexOf("\n") + 1;
  return { offset: Buffer.byteLength(before), line: before.split("\n").length, column: [...before.slice(lineStart)].length + 1 };
}

/** A small deterministic generator, so a failing chunk size can be reproduced. */
function seededSizes(seed: number, max: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return 1 + (state % max);
  };
}

describe("splitJson: a JSON array", () => {
  it("yields every good element and one error, naming the line and column, for a bad one in the middle", async () => {
    const input = '[\n  {"Id":"a"},\n  {"Id":"b"},\n  {"Id": nope},\n  {"Id":"d"}\n]\n';
    const items = await split(input);
    expect(values(items)).toEqual([{ Id: "a" }, { Id: "b" }, { error: expect.stringMatching(/^element 3 at line 4 column 3 is not valid JSON: Unexpected token/) }, { Id: "d" }]);
    expect(errors(items)[0]).toMatchObject({ text: '{"Id": nope}', position: positionOf(input, '{"Id": nope}') });
  });

  it("gives every element its own position", async () => {
    const input = ' [{"Id":"a"},\r\n {"Id":"é"}, {"Id":"c"}]';
    const items = await split(input);
    expect(items.map((item) => item.position)).toEqual([positionOf(input, '{"Id":"a"}'), positionOf(input, '{"Id":"é"}'), positionOf(input, '{"Id":"c"}')]);
    expect(items[2]!.position).toEqual({ offset: 29, line: 2, column: 14 });
  });

  it("translates the position JSON.parse names into the input's line, column and offset", async () => {
    const input = '[\n  {\n    "Id": "a",\n    "N": 1,\n  }\n]';
    const [item] = await split(input);
    const fault = positionOf(input, "  }\n");
    expect(item).toMatchObject({ kind: "error", position: { line: 2, column: 3 } });
    expect(item!.kind === "error" && item!.message).toBe(
      `element 1 at line 2 column 3 is not valid JSON: Expected double-quoted property name at line 5 column 3 (offset ${fault.offset + 2})`,
    );
  });

  it("reads strings holding brackets, commas, quotes and backslashes as strings", async () => {
    const records = [{ a: "x],[}{,", b: 'say "hi"\\' }, "]", { c: ["\\", "\"", "{"] }];
    expect(values(await split(JSON.stringify(records)))).toEqual(records);
  });

  it("accepts an empty array, and elements that are not objects", async () => {
    expect(await split(" [ ] ")).toEqual([]);
    expect(values(await split('[null, 1, "s", [2], true]'))).toEqual([null, 1, "s", [2], true]);
  });

  it("reports an element that is missing between commas or before the closing bracket", async () => {
    expect(values(await split("[1,,2,]"))).toEqual([
      1,
      { error: 'element 2 at line 1 column 4 is empty: no value before this ","' },
      2,
      { error: 'element 4 at line 1 column 7 is empty: no value before this "]"' },
    ]);
  });

  it("keeps the leftover text of an array that ends inside an element", async () => {
    const items = await split('[{"Id":"a"},\n {"Id":"b","Name":"trunc');
    expect(values(items)).toEqual([{ Id: "a" }, { error: 'element 2 at line 2 column 2 is not valid JSON: the input ends inside it, at line 2 column 25 (offset 37)' }]);
    expect(errors(items)[0]!.text).toBe('{"Id":"b","Name":"trunc');
  });

  it("yields the last complete element of an array that is never closed, then says so", async () => {
    expect(values(await split('[{"Id":"a"},{"Id":"b"}\n'))).toEqual([
      { Id: "a" },
      { Id: "b" },
      { error: "the JSON array at line 1 column 1 is not closed: the input ends at line 2 column 1 (offset 23)" },
    ]);
    expect(values(await split("[1,"))).toEqual([1, { error: "the JSON array at line 1 column 1 is not closed: the input ends at line 1 column 4 (offset 3)" }]);
  });

  it("gets back in step after an element whose brackets never close, at the next line indented like it", async () => {
    const input = '[\n  {"Id":"a",\n  {"Id":"b"},\n  {"Id":"c"}\n]';
    const items = await split(input);
    expect(values(items)).toEqual([{ error: expect.stringMatching(/^element 1 at line 2 column 3 is not valid JSON: /) }, { Id: "b" }, { Id: "c" }]);
    expect(errors(items)[0]!.text).toBe('{"Id":"a",');
  });

  it("reads arrays written one after another, and reports text outside them", async () => {
    expect(values(await split('[1,2]\n[3]\nnot json\n'))).toEqual([1, 2, 3, { error: "text at line 3 column 1 is outside the JSON array, which ends at line 2 column 3" }]);
  });
});

describe("splitJson: a sequence of values", () => {
  it("reads a pretty-printed single object as one value", async () => {
    const record = { Id: "a", Operation: "FileAccessed", Nested: { List: [1, { Deep: "x" }], Empty: {} } };
    expect(await split(`${JSON.stringify(record, null, 2)}\n`)).toEqual([{ kind: "value", value: record, text: JSON.stringify(record, null, 2), position: { offset: 0, line: 1, column: 1 } }]);
  });

  it("reads pretty-printed objects and values written one after another", async () => {
    const input = `${JSON.stringify({ a: 1 }, null, 4)}\n${JSON.stringify({ b: [2] }, null, "\t")}{"c":3} "text"\n42\n`;
    expect(values(await split(input))).toEqual([{ a: 1 }, { b: [2] }, { c: 3 }, "text", 42]);
  });

  it("turns a stray line of NDJSON into one error for that line and reads on from the next", async () => {
    const input = '{"Id":"a"}\r\nhello there\r\n\r\n{"Id":"b"}\r\n';
    const items = await split(input);
    expect(values(items)).toEqual([{ Id: "a" }, { error: expect.stringMatching(/^value 2 at line 2 column 1 is not valid JSON: Unexpected token 'h'/) }, { Id: "b" }]);
    expect(errors(items)[0]).toMatchObject({ text: "hello there", position: positionOf(input, "hello") });
  });

  it("does not let a line whose brackets never close swallow the lines after it", async () => {
    const items = await split('{"Id":"a"}\n{"Id":"b", "Name": "unterminated}\n{"Id":"c"}\n');
    expect(values(items)).toEqual([{ Id: "a" }, { error: expect.stringMatching(/^value 2 at line 2 column 1 is not valid JSON: /) }, { Id: "c" }]);
    expect(errors(items)[0]!.text).toBe('{"Id":"b", "Name": "unterminated}');
  });

  it("keeps the leftover text of an object the input ends inside", async () => {
    const items = await split('{"Id":"a"}\n{\n  "Id": "b",\n');
    expect(values(items)).toEqual([{ Id: "a" }, { error: "value 2 at line 2 column 1 is not valid JSON: the input ends inside it, at line 4 column 1 (offset 26)" }]);
    expect(errors(items)[0]!.text).toBe('{\n  "Id": "b",');
  });

  it("counts columns in characters, not bytes", async () => {
    const input = '{"é":"日本😀"} {"x":1}';
    const items = await split(input);
    expect(items[1]!.position).toEqual({ offset: Buffer.byteLength('{"é":"日本😀"} '), line: 1, column: 13 });
  });
});

describe("splitJson: bytes as they arrive", () => {
  const inputs = {
    array: '\uFEFF[ {"Id":"a\\"b\\\\","Text":"é日本😀\\u00e9\\n"},\r\n {"Id": oops, "x":"]"},\n  "s,]}",\n  {"Nested":{"L":[1,{"x":"{["}]}}\n]\n',
    sequence: '{"Id":"a\\"b\\\\","Text":"é日本😀\\u00e9\\n"}\r\nnot json ]\n{\n  "Pretty": ["é", {"k": "}"}]\n}\n{"Id":"unclosed\n{"Id":"z"}',
    // All ASCII: inside strings the scan jumps from quote to backslash to line break, across chunk boundaries too.
    "ASCII array": '[{"Id":"a\\"b\\\\","Text":"x\\\\\\"y\\u00e9"},\n {"Id": oops, "x":"]"},\n "s,]}\\\\",\n {"Line":"broken\nstring"},\n {"Nested":{"L":[1,{"x":"{[\\""}]}}\n]\n',
    "ASCII sequence": '{"Id":"a\\"b\\\\"}\n{"Id":"unclosed\n{"Id":"z","q":"\\\\\\""}\n"plain \\"string\\""',
  };

  for (const [name, text] of Object.entries(inputs)) {
    const input = Buffer.from(text);

    it(`splits ${name} input the same at every chunk boundary`, async () => {
      const whole = await split(input);
      expect(whole.length).toBeGreaterThanOrEqual(4);
      expect(errors(whole).length).toBeGreaterThanOrEqual(1);
      for (let at = 1; at < input.length; at += 1) {
        const sizes = [at, input.length];
        expect(await split(input, () => sizes.shift()!), `split at byte ${at}`).toEqual(whole);
      }
    });

    it(`splits ${name} input the same one byte at a time and in random chunk sizes`, async () => {
      const whole = await split(input);
      expect(await split(input, () => 1)).toEqual(whole);
      for (let seed = 1; seed <= 50; seed += 1) expect(await split(input, seededSizes(seed, 9)), `seed ${seed}`).toEqual(whole);
    });
  }

  it("reads the good values of those inputs as JSON.parse does", async () => {
    expect(values(await split(inputs.array))[0]).toEqual({ Id: 'a"b\\', Text: "é日本😀é\n" });
    expect(values(await split(inputs.array)).slice(2)).toEqual(["s,]}", { Nested: { L: [1, { x: "{[" }] } }]);
    expect(values(await split(inputs.sequence))).toEqual([
      { Id: 'a"b\\', Text: "é日本😀é\n" },
      { error: expect.stringMatching(/^value 2 at line 2 column 1/) },
      { Pretty: ["é", { k: "}" }] },
      { error: expect.stringMatching(/^value 4 at line 6 column 1/) },
      { Id: "z" },
    ]);
    expect(values(await split(inputs["ASCII array"]))).toEqual([
      { Id: 'a"b\\', Text: 'x\\"y\u00e9' },
      { error: expect.stringMatching(/^element 2 at line 2 column 2 /) },
      "s,]}\\",
      { error: expect.stringMatching(/^element 4 at line 4 column 2 is not valid JSON: Bad control character/) },
      { Nested: { L: [1, { x: '{["' }] } },
    ]);
    expect(values(await split(inputs["ASCII sequence"]))).toEqual([
      { Id: 'a"b\\' },
      { error: expect.stringMatching(/^value 2 at line 2 column 1 /) },
      { Id: "z", q: '\\"' },
      'plain "string"',
    ]);
  });

  it("yields each element as soon as it ends, without waiting for the rest of the input", async () => {
    const seen: unknown[] = [];
    async function* source() {
      yield Buffer.from('[{"Id":"a"},');
      // By now the first element must have been yielded.
      expect(seen).toEqual([{ Id: "a" }]);
      yield Buffer.from('{"Id":"b"}]');
    }
    for await (const item of splitJson(source())) seen.push(item.kind === "value" ? item.value : item.message);
    expect(seen).toEqual([{ Id: "a" }, { Id: "b" }]);
  });

  it("takes string chunks as UTF-8 text", async () => {
    async function* source() {
      yield '[{"Id":"é"},';
      yield '{"Id":"b"}]';
    }
    const items: SplitItem[] = [];
    for await (const item of splitJson(source())) items.push(item);
    expect(values(items)).toEqual([{ Id: "é" }, { Id: "b" }]);
  });
});

describe("splitJson: byte order mark and empty input", () => {
  it("skips a UTF-8 BOM, even split across chunks, and counts it in offsets but not columns", async () => {
    for (const sizes of [() => 100, () => 1, seededSizes(3, 2)]) {
      expect(await split('\uFEFF[{"Id":"a"}]', sizes)).toEqual([{ kind: "value", value: { Id: "a" }, text: '{"Id":"a"}', position: { offset: 4, line: 1, column: 2 } }]);
      expect(values(await split('\uFEFF{"Id":"a"}\n{"Id":"b"}', sizes))).toEqual([{ Id: "a" }, { Id: "b" }]);
    }
  });

  it("yields nothing for empty input, whitespace, or a BOM alone", async () => {
    expect(await split("")).toEqual([]);
    expect(await split(" \r\n\t\n")).toEqual([]);
    expect(await split("\uFEFF")).toEqual([]);
    expect(await split("\uFEFF", () => 1)).toEqual([]);
  });

  it("reads a first byte that only looks like the start of a BOM as content", async () => {
    const items = await split(Buffer.from([0xef, 0xbb, 0x0a, ...Buffer.from('{"Id":"a"}')]), () => 1);
    expect(items.map((item) => item.kind)).toEqual(["error", "value"]);
  });
});
