import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CONTENT_TYPES } from "../../shared/entra/clouds.js";
import { GENERATORS, Prng } from "../../shared/sources/o365-audit/simulator/records.js";
import { checkRawRecords, describeRawCheck } from "../conformance/raw.js";

const context = { tenantNames: new Map<string, string>(), preserveOriginal: false, now: () => 0 };
const tenant = { id: "00000001-1111-4111-8111-111111111111", domain: "contoso.onmicrosoft.com" };
let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the raw-record conformance check", () => {
  it("passes generated records of every content type and names what fails", async () => {
    dir = await mkdtemp(join(tmpdir(), "raw-check-"));
    const prng = new Prng(3);
    const good = CONTENT_TYPES.map((type, i) => JSON.stringify(GENERATORS[type](prng, tenant, Date.UTC(2026, 0, 1) + i * 1000)));
    await writeFile(join(dir, "good.ndjson"), `${good.join("\n")}\n`);
    // A line that is not JSON, a record without RecordType or Id, and one whose RecordType is no AuditLogRecordType the mapping knows.
    await writeFile(join(dir, "bad.log"), '{"Operation":"FileAccessed"\n{"Operation":"FileAccessed","CreationTime":"2026-01-01T00:00:00"}\n');
    await writeFile(join(dir, "unknown.ndjson"), '{"Id":"u1","Operation":"NewThing","RecordType":99999,"CreationTime":"2026-01-01T00:00:00"}\n');
    await writeFile(join(dir, "ignored.json-expected.json"), "{}");

    const result = await checkRawRecords(dir, context);
    expect(result.files).toBe(3);
    expect(result.records).toBe(CONTENT_TYPES.length + 3);
    expect(result.pipelineErrors).toEqual([{ file: "bad.log", line: 1, message: expect.stringContaining("not valid JSON") as string }]);
    // Neither carries an Id or a RecordType (the first is not even JSON): those were not lost by the mapping;
    // the line that is not JSON has no category, type or outcome either, and those have no source to blame.
    // A RecordType that can be one but that the mapping does not know is a loss, not an excuse.
    expect(Object.fromEntries(result.missing)).toEqual({ "event.category": ["bad.log:1"], "event.type": ["bad.log:1"], "event.outcome": ["bad.log:1"], "event.code": ["unknown.ndjson:1"] });
    expect(result.notInRecord.get("event.code")).toEqual(["bad.log:1", "bad.log:2"]);
    expect(result.notInRecord.get("event.id")).toEqual(["bad.log:1", "bad.log:2"]);
    expect(result.notInRecord.get("event.action")).toEqual(["bad.log:1"]);
    expect(result.missing.has("@timestamp")).toBe(false);
    expect(result.codes.get("(none)")).toBe(3);
    expect([...result.codes.values()].reduce((a, b) => a + b)).toBe(result.records);
    const report = describeRawCheck(dir, result).join("\n");
    expect(report).toContain(`${CONTENT_TYPES.length + 3} records in 3 files, 1 pipeline_error`);
    expect(report).toContain("event.code      present in 5/8  (missing: unknown.ndjson:1)  (2 records have nothing to make it from: bad.log:1, bad.log:2)");
  });
});
