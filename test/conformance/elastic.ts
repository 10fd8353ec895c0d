import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import type { EcsDocument } from "../../shared/ecs/document.js";
import { normalize, type NormalizeContext } from "../../shared/sources/o365-audit/normalize/normalize.js";
import { compareLeaves, leaves, percent, testGeoIp } from "./compare.js";
import { runMessageTraceConformance } from "./messageTrace.js";
import { runSophosXdrConformance } from "./sophosXdr.js";
import { checkRawRecords, describeRawCheck } from "./raw.js";

/**
 * `npm run conformance -- DIR [--diff FILE] [--raw RAWDIR] [--message-trace MTDIR] [--sophos-xdr SXDIR]`: runs every Elastic o365 pipeline test under DIR
 * (`test-*.json` + `test-*.json-expected.json` + `test-common-config.yml`) through normalize(),
 * compares documents field by field (leaf paths; arrays as whole values; `event.ingested` ignored),
 * prints per-test and total agreement, and writes every mismatch to a diff file.
 * With `--raw`, also checks every raw record under RAWDIR (see raw.ts); with `--message-trace`, scores
 * the message-trace normalizer against the peers' tests under MTDIR (see messageTrace.ts); with
 * `--sophos-xdr`, the Sophos XDR normalizer against Sekoia's tests under SXDIR (see sophosXdr.ts).
 * Measurement, not a gate: it exits 0 unless the corpus itself cannot be read.
 */
interface HarnessConfig {
  fields?: { "@timestamp"?: string; _conf?: { tenants?: Record<string, string> }; tags?: string[] };
  dynamic_fields?: Record<string, string>;
}

export interface TestResult {
  name: string;
  documents: number;
  expectedFields: number;
  equalFields: number;
  extraFields: number;
  diff: string[];
}

export async function runConformance(dir: string): Promise<TestResult[]> {
  const config = parseYaml(await readFile(join(dir, "test-common-config.yml"), "utf8")) as HarnessConfig;
  const ignored = new Set(Object.keys(config.dynamic_fields ?? {}));
  const tags = config.fields?.tags ?? [];
  const fixedTimestamp = config.fields?.["@timestamp"];
  const context: NormalizeContext = {
    ...(await testGeoIp()),
    tenantNames: new Map(Object.entries(config.fields?._conf?.tenants ?? {}).map(([id, name]) => [id.toLowerCase(), name])),
    preserveOriginal: tags.includes("preserve_original_event"),
    now: () => (fixedTimestamp ? Date.parse(fixedTimestamp) : Date.now()),
  };
  const results: TestResult[] = [];
  const files = (await readdir(dir)).filter((f) => /^test-.*\.json$/.test(f) && !f.endsWith("-expected.json")).sort();
  for (const file of files) {
    const input = JSON.parse(await readFile(join(dir, file), "utf8")) as { events: { o365audit: unknown; event?: { original?: string } }[] };
    const expected = (JSON.parse(await readFile(join(dir, `${file}-expected.json`), "utf8")) as { expected: EcsDocument[] }).expected;
    const result: TestResult = { name: file.replace(/\.json$/, ""), documents: expected.length, expectedFields: 0, equalFields: 0, extraFields: 0, diff: [] };
    input.events.forEach((event, index) => {
      const original = event.event?.original;
      // Compared as written: the serialized NDJSON line.
      const doc = JSON.parse(JSON.stringify(normalize(event.o365audit, { ...context, ...(original !== undefined ? { originalText: original } : {}) }))) as EcsDocument;
      // What the test harness adds to every document, and the pipeline passes through.
      if (tags.length > 0) doc.tags = [...tags];
      const want = leaves(expected[index] ?? {});
      const got = leaves(doc);
      for (const key of ignored) {
        want.delete(key);
        got.delete(key);
      }
      compareLeaves(want, got, `${result.name}[${index}]`, result);
    });
    results.push(result);
  }
  return results;
}

async function main(argv: string[]) {
  const valueOf = (flag: string) => {
    const at = argv.indexOf(flag);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const flagValues = new Set([valueOf("--diff"), valueOf("--raw"), valueOf("--message-trace"), valueOf("--sophos-xdr")]);
  const dir = argv.find((a) => !a.startsWith("--") && !flagValues.has(a));
  const rawDir = valueOf("--raw");
  const traceDir = valueOf("--message-trace");
  const sophosDir = valueOf("--sophos-xdr");
  const diffFile = resolve(valueOf("--diff") ?? ".local/conformance-diff.txt");
  if (!dir && !rawDir && !traceDir && !sophosDir) {
    console.error("usage: npm run conformance -- [DIR] [--diff FILE] [--raw RAWDIR] [--message-trace MTDIR] [--sophos-xdr SXDIR]");
    process.exitCode = 2;
    return;
  }
  const diff: string[] = [];
  if (dir) {
    const results = await runConformance(dir);
    for (const r of results) {
      console.log(`${r.name.padEnd(44)} ${String(r.documents).padStart(3)} docs  ${String(r.equalFields).padStart(4)}/${String(r.expectedFields).padEnd(4)} fields equal (${percent(r.equalFields, r.expectedFields)}%)  ${r.extraFields} extra`);
    }
    const total = results.reduce((t, r) => ({ e: t.e + r.expectedFields, q: t.q + r.equalFields, x: t.x + r.extraFields, d: t.d + r.documents }), { e: 0, q: 0, x: 0, d: 0 });
    console.log(`TOTAL ${results.length} tests, ${total.d} documents: ${total.q}/${total.e} expected fields equal (${percent(total.q, total.e)}%), ${total.x} fields not in the expectations`);
    diff.push(...results.flatMap((r) => r.diff));
  }
  if (rawDir) {
    const context: NormalizeContext = { ...(await testGeoIp()), tenantNames: new Map(), preserveOriginal: false, now: Date.now };
    for (const line of describeRawCheck(rawDir, await checkRawRecords(rawDir, context))) console.log(line);
  }
  if (traceDir) {
    const trace = await runMessageTraceConformance(traceDir);
    for (const line of trace.lines) console.log(line);
    diff.push(...trace.diff);
  }
  if (sophosDir) {
    const sophos = await runSophosXdrConformance(sophosDir);
    for (const line of sophos.lines) console.log(line);
    diff.push(...sophos.diff);
  }
  if (dir || traceDir || sophosDir) {
    await mkdir(dirname(diffFile), { recursive: true });
    await writeFile(diffFile, `${diff.join("\n")}\n`);
    console.log(`mismatches written to ${diffFile}`);
  }
}

await main(process.argv.slice(2));
