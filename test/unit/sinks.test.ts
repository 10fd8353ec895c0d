import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileSink } from "../../shared/sinks/file.js";

/** NDJSON lines that compress well, as documents do. */
const NDJSON = Buffer.from(Array.from({ length: 2_000 }, (_, i) => `{"event":{"id":"r${i}","action":"FileAccessed"},"user":{"id":"user${i % 50}@contoso.com"}}\n`).join(""));

describe("FileSink's gzip level", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "audit-intake-sink-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function written(sink: FileSink, path: string): Promise<Buffer> {
    const writer = await sink.open(path);
    await writer.write(NDJSON);
    await writer.commit();
    return readFile(join(dir, path));
  }

  it("compresses at the level it is given, and level 5 by default", async () => {
    const fast = await written(new FileSink(dir, { gzipLevel: 1 }), "fast.ndjson.gz");
    const best = await written(new FileSink(dir, { gzipLevel: 9 }), "best.ndjson.gz");
    const usual = await written(new FileSink(dir), "usual.ndjson.gz");
    // The gzip header's XFL byte: zlib writes 4 at level 1, 2 at level 9, 0 between.
    expect([fast[8], best[8], usual[8]]).toEqual([4, 2, 0]);
    expect(fast.length).toBeGreaterThan(best.length);
    for (const output of [fast, best, usual]) expect(gunzipSync(output).equals(NDJSON)).toBe(true);
  });
});
