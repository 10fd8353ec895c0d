import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { normalizeStream } from "../../shared/cli/normalizeFile.js";

const context = { tenantNames: new Map<string, string>(), preserveOriginal: false, now: () => 0 };

async function run(input: string) {
  const output = new PassThrough();
  const chunks: Buffer[] = [];
  output.on("data", (c: Buffer) => chunks.push(c));
  const count = await normalizeStream(Readable.from([Buffer.from(input)]), output, context);
  return { count, docs: Buffer.concat(chunks).toString("utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, { id?: string; kind?: string }>) };
}

describe("audit-intake normalize", () => {
  it("reads a JSON array and writes one document per record, in order", async () => {
    const { count, docs } = await run(' [{"Id":"a","Operation":"X"},{"Id":"b","Operation":"Y"},{"Id":"c"}]');
    expect(count).toBe(3);
    expect(docs.map((d) => d.event!.id)).toEqual(["a", "b", "c"]);
  });

  it("reads NDJSON, keeping one output line per input line even for a line that is not JSON", async () => {
    const { count, docs } = await run('{"Id":"a"}\n\n{broken\n{"Id":"c"}\n');
    expect(count).toBe(3);
    expect(docs[0]!.event!.id).toBe("a");
    expect(docs[1]!.event!.kind).toBe("pipeline_error");
    expect((docs[1]!.error as unknown as { message: string }).message).toMatch(/line 3 is not JSON/);
    expect(docs[2]!.event!.id).toBe("c");
  });
});
