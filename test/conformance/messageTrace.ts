import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { parse as parseYaml } from "yaml";
import type { EcsDocument } from "../../shared/ecs/document.js";
import { type MessageTraceContext, messageTraceRows, normalizeMessageTrace } from "../../shared/sources/message-trace/normalize.js";
import { type Comparison, compareLeaves, type Leaves, leaves, percent, testGeoIp } from "./compare.js";

/**
 * The message-trace sections of `npm run conformance -- --message-trace DIR`, DIR holding any of:
 * - `elastic/`: Elastic's pipeline test of microsoft_exchange_online_message_trace (`test-*.log`, one raw
 *   line per event, `test-*.log-expected.json`, `test-common-config.yml` with `_conf.local_domains`).
 *   Scored as the audit tests are: every expected field, every field of ours not expected.
 * - `beats/`: the Filebeat o365 mailtrace module's test. Its documents are another shape (o365.mailtrace.*,
 *   email.sender.address…), so it is information: fields both write, compared, and theirs we do not write.
 * - `sekoia/`: Sekoia's tests of the legacy shape, information as well; where it and Elastic disagree,
 *   Elastic's document is the one we write.
 */
export interface SectionResult extends Comparison {
  name: string;
  documents: number;
  /** Information sections: their field paths we do not write, with how many documents have them. */
  notWritten: Map<string, number>;
}

/**
 * What Elastic Agent stamps on every event before the pipeline (Elastic's sample_event.json has them;
 * its pipeline tests never do). We write them ourselves, so they are left out of the comparison.
 */
const AGENT_FIELDS = ["data_stream.type", "data_stream.dataset", "data_stream.namespace", "event.dataset"];

/** The harness expands dotted keys, so `_conf.local_domains` may be written either way. */
interface HarnessConfig {
  fields?: { tags?: string[]; _conf?: { local_domains?: string | string[] }; "_conf.local_domains"?: string | string[] };
}

/** One input value (a line, or a test's message) and its documents, as written (serialized and read back). */
function documentsOf(text: string, context: MessageTraceContext): EcsDocument[] {
  const value: unknown = JSON.parse(text);
  const rows = messageTraceRows(value);
  // A line that is one row is that row's original; the rows of a page are each their own.
  const originalText = rows.length === 1 && rows[0] === value ? text : undefined;
  return rows.map((row) => JSON.parse(JSON.stringify(normalizeMessageTrace(row, { ...context, ...(originalText !== undefined ? { originalText } : {}) }))) as EcsDocument);
}

function newResult(name: string): SectionResult {
  return { name, documents: 0, expectedFields: 0, equalFields: 0, extraFields: 0, diff: [], notWritten: new Map() };
}

/** Elastic's pipeline tests, scored. An expected `null` is an event the pipeline drops: no document is right. */
export async function runElastic(dir: string): Promise<SectionResult[]> {
  const config = parseYaml(await readFile(join(dir, "test-common-config.yml"), "utf8")) as HarnessConfig;
  const tags = config.fields?.tags ?? [];
  const domains = config.fields?.["_conf.local_domains"] ?? config.fields?._conf?.local_domains;
  const context: MessageTraceContext = {
    ...(await testGeoIp()),
    localDomains: domains === undefined ? [] : Array.isArray(domains) ? domains : [domains],
    preserveOriginal: tags.includes("preserve_original_event"),
    now: Date.now,
  };
  const results: SectionResult[] = [];
  const files = (await readdir(dir)).filter((f) => /^test-.*\.log$/.test(f)).sort();
  for (const file of files) {
    const lines = (await readFile(join(dir, file), "utf8")).split(/\r?\n/).filter((line) => line.trim() !== "");
    const expected = (JSON.parse(await readFile(join(dir, `${file}-expected.json`), "utf8")) as { expected: (EcsDocument | null)[] }).expected;
    const result = newResult(file.replace(/\.log$/, ""));
    for (let index = 0; index < Math.max(lines.length, expected.length); index += 1) {
      const line = lines[index];
      const docs = line === undefined ? [] : documentsOf(line, context);
      const want = expected[index];
      result.documents += want ? 1 : 0;
      docs.forEach((doc, n) => {
        // What the test harness adds to every document, and the pipeline passes through.
        if (tags.length > 0) doc.tags = [...tags];
        const got = leaves(doc);
        for (const path of AGENT_FIELDS) got.delete(path);
        // A line gives one document in Elastic's pipeline; any further one of ours is all extra.
        compareLeaves(n === 0 && want ? leaves(want) : new Map(), got, `${result.name}[${index}]${n > 0 ? `+${n}` : ""}`, result);
      });
      if (docs.length === 0 && want) compareLeaves(leaves(want), new Map(), `${result.name}[${index}]`, result);
    }
    results.push(result);
  }
  return results;
}

/** A date written with more or fewer fraction digits is the same date. */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/;

function sameValue(ours: unknown, theirs: unknown): boolean {
  if (isDeepStrictEqual(ours, theirs)) return true;
  return typeof ours === "string" && typeof theirs === "string" && ISO_DATE.test(ours) && ISO_DATE.test(theirs) && Date.parse(ours) === Date.parse(theirs);
}

/** Information: each of their fields that we write too is compared; the others are counted by path. */
function inform(want: Leaves, got: Leaves, label: string, result: SectionResult): void {
  result.documents += 1;
  for (const [path, value] of want) {
    if (!got.has(path)) {
      result.notWritten.set(path, (result.notWritten.get(path) ?? 0) + 1);
      continue;
    }
    result.expectedFields += 1;
    if (sameValue(got.get(path), value)) result.equalFields += 1;
    else result.diff.push(`${label} ${path}: theirs ${JSON.stringify(value)}, ours ${JSON.stringify(got.get(path))}`);
  }
}

/** The Filebeat module's test: raw lines and an array of documents with dotted keys. */
export async function runBeats(dir: string): Promise<SectionResult[]> {
  const context: MessageTraceContext = { ...(await testGeoIp()), localDomains: [], preserveOriginal: false, now: Date.now };
  const results: SectionResult[] = [];
  const files = (await readdir(dir)).filter((f) => f.endsWith(".log")).sort();
  for (const file of files) {
    const lines = (await readFile(join(dir, file), "utf8")).split(/\r?\n/).filter((line) => line.trim() !== "");
    const expected = JSON.parse(await readFile(join(dir, `${file}-expected.json`), "utf8")) as EcsDocument[];
    const result = newResult(`beats/${file}`);
    expected.forEach((want, index) => {
      const line = lines[index];
      inform(leaves(want), line === undefined ? new Map() : leaves(documentsOf(line, context)[0] ?? {}), `${result.name}[${index}]`, result);
    });
    results.push(result);
  }
  return results;
}

/** Sekoia's tests: `{"input":{"message": row text}, "expected": document}`. */
export async function runSekoia(dir: string): Promise<SectionResult[]> {
  const context: MessageTraceContext = { ...(await testGeoIp()), localDomains: [], preserveOriginal: false, now: Date.now };
  const result = newResult("sekoia");
  for (const file of (await readdir(dir)).filter((f) => f.endsWith(".json")).sort()) {
    const test = JSON.parse(await readFile(join(dir, file), "utf8")) as { input: { message: string }; expected: EcsDocument };
    inform(leaves(test.expected), leaves(documentsOf(test.input.message, context)[0] ?? {}), `sekoia/${file}`, result);
  }
  return [result];
}

/** Runs whichever of the three folders DIR has; returns the printed lines and the diff lines. */
export async function runMessageTraceConformance(dir: string): Promise<{ lines: string[]; diff: string[] }> {
  const lines: string[] = [];
  const diff: string[] = [];
  const elasticDir = join(dir, "elastic");
  if (existsSync(elasticDir)) {
    const results = await runElastic(elasticDir);
    lines.push(`MESSAGE TRACE vs Elastic's microsoft_exchange_online_message_trace pipeline tests (${elasticDir})`);
    for (const r of results) {
      lines.push(`${r.name.padEnd(44)} ${String(r.documents).padStart(3)} docs  ${String(r.equalFields).padStart(4)}/${String(r.expectedFields).padEnd(4)} fields equal (${percent(r.equalFields, r.expectedFields)}%)  ${r.extraFields} extra`);
    }
    const total = sum(results);
    lines.push(
      `TOTAL message trace, ${results.length} tests, ${total.documents} documents: ${total.equalFields}/${total.expectedFields} expected fields equal (${percent(total.equalFields, total.expectedFields)}%), ${total.extraFields} fields not in the expectations (${AGENT_FIELDS.join(", ")} not compared: Elastic Agent sets them)`,
    );
    diff.push(...results.flatMap((r) => r.diff));
  } else {
    lines.push(`MESSAGE TRACE: ${elasticDir} not found, not scored`);
  }
  for (const [name, run, what] of [
    ["beats", runBeats, "Filebeat o365 mailtrace module, another document shape"],
    ["sekoia", runSekoia, "Sekoia's legacy-shape intake; Elastic wins where they disagree"],
  ] as const) {
    const folder = join(dir, name);
    if (!existsSync(folder)) continue;
    const total = sum(await run(folder));
    lines.push(
      `  information, ${name} (${what}): ${total.documents} docs, ${total.equalFields}/${total.expectedFields} of the fields both write equal (${percent(total.equalFields, total.expectedFields)}%); theirs we do not write: ${describeNotWritten(total.notWritten)}`,
    );
    diff.push(...total.diff);
  }
  return { lines, diff };
}

function sum(results: SectionResult[]): SectionResult {
  const total = newResult("total");
  for (const r of results) {
    total.documents += r.documents;
    total.expectedFields += r.expectedFields;
    total.equalFields += r.equalFields;
    total.extraFields += r.extraFields;
    total.diff.push(...r.diff);
    for (const [path, count] of r.notWritten) total.notWritten.set(path, (total.notWritten.get(path) ?? 0) + count);
  }
  return total;
}

function describeNotWritten(paths: Map<string, number>): string {
  if (paths.size === 0) return "none";
  return [...paths].map(([path, count]) => `${path} (${count})`).join(", ");
}
