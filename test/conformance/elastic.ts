import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { parse as parseYaml } from "yaml";
import { openGeoIp } from "../../shared/normalize/geoip.js";
import { normalize, type EcsDocument, type NormalizeContext } from "../../shared/normalize/index.js";
import { checkRawRecords, describeRawCheck } from "./raw.js";

/**
 * `npm run conformance -- DIR [--diff FILE] [--raw RAWDIR]`: runs every Elastic o365 pipeline test under DIR
 * (`test-*.json` + `test-*.json-expected.json` + `test-common-config.yml`) through normalize(),
 * compares documents field by field (leaf paths; arrays as whole values; `event.ingested` ignored),
 * prints per-test and total agreement, and writes every mismatch to a diff file.
 * With `--raw`, also checks every raw record under RAWDIR (see raw.ts).
 * Measurement, not a gate: it exits 0 unless the corpus itself cannot be read.
 */
interface HarnessConfig {
  fields?: { "@timestamp"?: string; _conf?: { tenants?: Record<string, string> }; tags?: string[] };
  dynamic_fields?: Record<string, string>;
}

type Leaves = Map<string, unknown>;

function leaves(value: unknown, path = "", out: Leaves = new Map()): Leaves {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) leaves(child, path ? `${path}.${key}` : key, out);
    if (Object.keys(value).length === 0 && path) out.set(path, {});
  } else {
    out.set(path, value);
  }
  return out;
}

/** Enrichment as Elastic's tests run it: MaxMind's test databases (copied under test/fixtures). */
async function testGeoIp(): Promise<Pick<NormalizeContext, "geoip">> {
  const geoip = await openGeoIp({
    city: new URL("../fixtures/geoip/GeoLite2-City-Test.mmdb", import.meta.url).pathname,
    asn: new URL("../fixtures/geoip/GeoLite2-ASN-Test.mmdb", import.meta.url).pathname,
  });
  return geoip ? { geoip } : {};
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
      for (const [path, value] of want) {
        result.expectedFields += 1;
        if (isDeepStrictEqual(got.get(path), value)) result.equalFields += 1;
        else result.diff.push(`${result.name}[${index}] ${path}: expected ${JSON.stringify(value)}, got ${got.has(path) ? JSON.stringify(got.get(path)) : "(missing)"}`);
      }
      for (const [path, value] of got) {
        if (!want.has(path)) {
          result.extraFields += 1;
          result.diff.push(`${result.name}[${index}] ${path}: not expected, got ${JSON.stringify(value)}`);
        }
      }
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
  const flagValues = new Set([valueOf("--diff"), valueOf("--raw")]);
  const dir = argv.find((a) => !a.startsWith("--") && !flagValues.has(a));
  const rawDir = valueOf("--raw");
  const diffFile = resolve(valueOf("--diff") ?? ".local/conformance-diff.txt");
  if (!dir && !rawDir) {
    console.error("usage: npm run conformance -- [DIR] [--diff FILE] [--raw RAWDIR]");
    process.exitCode = 2;
    return;
  }
  if (dir) {
    const results = await runConformance(dir);
    const pct = (a: number, b: number) => (b === 0 ? "100.0" : ((100 * a) / b).toFixed(1));
    for (const r of results) {
      console.log(`${r.name.padEnd(44)} ${String(r.documents).padStart(3)} docs  ${String(r.equalFields).padStart(4)}/${String(r.expectedFields).padEnd(4)} fields equal (${pct(r.equalFields, r.expectedFields)}%)  ${r.extraFields} extra`);
    }
    const total = results.reduce((t, r) => ({ e: t.e + r.expectedFields, q: t.q + r.equalFields, x: t.x + r.extraFields, d: t.d + r.documents }), { e: 0, q: 0, x: 0, d: 0 });
    console.log(`TOTAL ${results.length} tests, ${total.d} documents: ${total.q}/${total.e} expected fields equal (${pct(total.q, total.e)}%), ${total.x} fields not in the expectations`);
    await mkdir(dirname(diffFile), { recursive: true });
    await writeFile(diffFile, `${results.flatMap((r) => r.diff).join("\n")}\n`);
    console.log(`mismatches written to ${diffFile}`);
  }
  if (rawDir) {
    const context: NormalizeContext = { ...(await testGeoIp()), tenantNames: new Map(), preserveOriginal: false, now: Date.now };
    for (const line of describeRawCheck(rawDir, await checkRawRecords(rawDir, context))) console.log(line);
  }
}

await main(process.argv.slice(2));
