import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { EcsDocument } from "../../shared/ecs/document.js";
import { normalizeSophosXdr, type SophosXdrContext } from "../../shared/sources/sophos-xdr/normalize.js";
import { type Comparison, compareLeaves, type Leaves, leaves, percent, testGeoIp } from "./compare.js";

/**
 * The Sophos XDR section of the conformance run: `npx tsx test/conformance/sophosXdr.ts DIR`, DIR holding
 * `sekoia/`, Sekoia's tests of its Sophos Central XDR Data Lake intake (`{"input":{"message": row as JSON
 * text}, "expected": document}`). Scored field by field: every ECS field of theirs (their vendor fields,
 * `sophos.*` and `action.*`, and `message`, the raw row, are not compared), and every ECS field of ours
 * they do not have is counted as extra. Dates written with other fraction digits are the same date.
 *
 * Where we write a field differently on purpose, the miss is still a miss; it is also listed in
 * DEVIATIONS with the reason, and the total says how many of the misses those account for.
 */
export interface SophosXdrResult extends Comparison {
  name: string;
  /** Misses explained by DEVIATIONS, by path. */
  deliberate: Map<string, number>;
}

/** Their fields that are Sekoia's own naming, not ECS: not compared. */
const VENDOR_PATHS = [/^message$/, /^sophos\./, /^action\./];
/** Ours that are not in their documents by construction: the data stream and our vendor fields. */
const OURS_NOT_COMPARED = [/^data_stream\./, /^event\.dataset$/, /^ecs\./, /^sophos\./];

/**
 * Misses we choose: the path, when a miss there is deliberate, and why.
 * - process.name: Sekoia writes ioc_worker_name, the Sophos cloud worker that raised the detection
 *   ("Security Event Service", "Direct Mapping Worker"), as process.name, even in a running-process row
 *   whose process.pid and process.command_line are WMIC's. No such process ran on the endpoint; we write
 *   the row's process name (`name`, `process_name`) and keep the worker as sophos.xdr.ioc_worker_name.
 * - process.parent.working_directory: Sekoia writes process_parent_path there in runtime-IOC rows, while it
 *   writes parent_path as process.parent.executable in running-process rows; the value is the parent's
 *   image (`…\process_parent_path.exe`), not a directory. We write process.parent.executable both times.
 * - host.domain "-": `-` is Windows' placeholder for "none"; every placeholder is dropped.
 */
export const DEVIATIONS: readonly { path: string; applies: (expected: unknown) => boolean; why: string }[] = [
  { path: "process.name", applies: () => true, why: "Sekoia writes the Sophos worker (ioc_worker_name) as process.name; we write the row's process" },
  { path: "process.parent.working_directory", applies: () => true, why: "the parent's image path is written as process.parent.executable" },
  { path: "host.domain", applies: (expected) => expected === "-", why: "placeholder '-' dropped" },
];

const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/;

/** Leaves with ISO dates in one form (milliseconds, UTC), so that `…:11Z` and `…:11.000Z` compare equal. */
function canonical(from: Leaves, skip: readonly RegExp[]): Leaves {
  const out: Leaves = new Map();
  for (const [path, value] of from) {
    if (skip.some((pattern) => pattern.test(path))) continue;
    out.set(path, typeof value === "string" && ISO_DATE.test(value) ? new Date(Date.parse(value)).toISOString() : value);
  }
  return out;
}

export async function runSekoia(dir: string): Promise<SophosXdrResult[]> {
  const context: SophosXdrContext = { ...(await testGeoIp()), preserveOriginal: false, now: Date.now };
  const results: SophosXdrResult[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith(".json")).sort()) {
    const test = JSON.parse(await readFile(join(dir, file), "utf8")) as { input: { message: string }; expected: EcsDocument };
    const name = file.replace(/\.json$/, "");
    const result: SophosXdrResult = { name, expectedFields: 0, equalFields: 0, extraFields: 0, diff: [], deliberate: new Map() };
    // As written: the NDJSON line, read back.
    const doc = JSON.parse(JSON.stringify(normalizeSophosXdr(JSON.parse(test.input.message), { ...context, originalText: test.input.message }))) as EcsDocument;
    const want = canonical(leaves(test.expected), VENDOR_PATHS);
    const got = canonical(leaves(doc), OURS_NOT_COMPARED);
    compareLeaves(want, got, name, result);
    for (const [path, value] of want) {
      const deviation = DEVIATIONS.find((d) => d.path === path && d.applies(value));
      if (deviation && got.get(path) !== value) result.deliberate.set(path, (result.deliberate.get(path) ?? 0) + 1);
    }
    results.push(result);
  }
  return results;
}

/** Runs DIR/sekoia; returns the printed lines and the diff lines (misses first, then extras). */
export async function runSophosXdrConformance(dir: string): Promise<{ lines: string[]; diff: string[] }> {
  const sekoiaDir = join(dir, "sekoia");
  if (!existsSync(sekoiaDir)) return { lines: [`SOPHOS XDR: ${sekoiaDir} not found, not scored`], diff: [] };
  const results = await runSekoia(sekoiaDir);
  const lines = [`SOPHOS XDR vs Sekoia's Sophos Central XDR (xdr_ioc_view) parser tests (${sekoiaDir})`];
  for (const r of results) {
    const deliberate = sumCounts(r.deliberate);
    lines.push(
      `${r.name.padEnd(44)} ${String(r.equalFields).padStart(4)}/${String(r.expectedFields).padEnd(4)} expected fields equal (${percent(r.equalFields, r.expectedFields)}%)  ${r.extraFields} extra${deliberate > 0 ? `  (${deliberate} of the misses deliberate)` : ""}`,
    );
  }
  const total = results.reduce((t, r) => ({ e: t.e + r.expectedFields, q: t.q + r.equalFields, x: t.x + r.extraFields }), { e: 0, q: 0, x: 0 });
  const deliberate = new Map<string, number>();
  for (const r of results) for (const [path, n] of r.deliberate) deliberate.set(path, (deliberate.get(path) ?? 0) + n);
  const misses = total.e - total.q;
  const explained = sumCounts(deliberate);
  lines.push(
    `TOTAL sophos xdr, ${results.length} tests: ${total.q}/${total.e} expected fields equal (${percent(total.q, total.e)}%), ${total.x} fields not in the expectations; ` +
      `of the ${misses} misses, ${explained} are deliberate (${[...deliberate].map(([p, n]) => `${p} ×${n}`).join(", ") || "none"}), ${misses - explained} are not; ` +
      `excluding the deliberate ones: ${total.q}/${total.e - explained} (${percent(total.q, total.e - explained)}%)`,
  );
  const diff = results.flatMap((r) => r.diff);
  return { lines, diff: [...diff.filter((line) => !line.includes(": not expected, got ")), ...diff.filter((line) => line.includes(": not expected, got "))] };
}

function sumCounts(counts: Map<string, number>): number {
  return [...counts.values()].reduce((a, b) => a + b, 0);
}

async function main(argv: string[]): Promise<void> {
  const dir = argv.find((a) => !a.startsWith("--"));
  if (!dir) {
    console.error("usage: npx tsx test/conformance/sophosXdr.ts DIR [--extra]   (DIR holds sekoia/)");
    process.exitCode = 2;
    return;
  }
  const { lines, diff } = await runSophosXdrConformance(resolve(dir));
  for (const line of lines) console.log(line);
  const shown = argv.includes("--extra") ? diff : diff.filter((line) => !line.includes(": not expected, got "));
  if (shown.length > 0) console.log(["", argv.includes("--extra") ? "differences:" : "misses (--extra also lists our fields they do not have):", ...shown].join("\n"));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main(process.argv.slice(2));
