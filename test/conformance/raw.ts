import { createReadStream } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { normalizeStream } from "../../shared/cli/normalizeFile.js";
import { getPath } from "../../shared/ecs/doc.js";
import type { NormalizeContext } from "../../shared/sources/o365-audit/normalize/normalize.js";
import { auditMapper } from "../../shared/sources/o365-audit/offline.js";

/**
 * The raw-record check: every record in every file under DIR (NDJSON or a JSON array, as the
 * `normalize` CLI reads them) must normalize without `event.kind: pipeline_error` and carry the
 * fields Elastic's dashboards and rules key on. No expectations: this checks coverage, not values.
 */
export const REQUIRED_FIELDS = ["@timestamp", "event.id", "event.action", "event.code", "event.category", "event.type", "event.outcome"] as const;

export interface RawCheckResult {
  files: number;
  records: number;
  pipelineErrors: { file: string; line: number; message: string }[];
  /** Field → records (file:line) that lack it. */
  missing: Map<string, string[]>;
  /** event.code → records. */
  codes: Map<string, number>;
}

function present(doc: Record<string, unknown>, path: string): boolean {
  const value = getPath(doc, path);
  return value !== undefined && value !== null && value !== "" && !(Array.isArray(value) && value.length === 0);
}

export async function checkRawRecords(dir: string, context: NormalizeContext): Promise<RawCheckResult> {
  const files = (await readdir(dir)).filter((f) => /\.(log|ndjson|jsonl|json)$/.test(f) && !f.endsWith("-expected.json")).sort();
  const result: RawCheckResult = { files: files.length, records: 0, pipelineErrors: [], missing: new Map(), codes: new Map() };
  for (const file of files) {
    const output = new PassThrough();
    const lines: string[] = [];
    let pending = "";
    output.on("data", (chunk: Buffer) => {
      const parts = (pending + chunk.toString("utf8")).split("\n");
      pending = parts.pop() ?? "";
      lines.push(...parts);
    });
    await normalizeStream(createReadStream(join(dir, file)), output, auditMapper(context));
    output.end();
    lines.forEach((line, index) => {
      const where = `${file}:${index + 1}`;
      const doc = JSON.parse(line) as Record<string, unknown> & { event: { kind?: string; code?: string }; error?: { message?: unknown } };
      result.records += 1;
      if (doc.event.kind === "pipeline_error") result.pipelineErrors.push({ file, line: index + 1, message: String(doc.error?.message) });
      for (const field of REQUIRED_FIELDS) {
        if (!present(doc, field)) result.missing.set(field, [...(result.missing.get(field) ?? []), where]);
      }
      const code = doc.event.code ?? "(none)";
      result.codes.set(code, (result.codes.get(code) ?? 0) + 1);
    });
  }
  return result;
}

export function describeRawCheck(dir: string, r: RawCheckResult): string[] {
  const out = [`RAW ${dir}: ${r.records} records in ${r.files} files, ${r.pipelineErrors.length} pipeline_error`];
  for (const e of r.pipelineErrors) out.push(`  pipeline_error ${e.file}:${e.line}: ${e.message}`);
  for (const field of REQUIRED_FIELDS) {
    const lacking = r.missing.get(field) ?? [];
    out.push(`  ${field.padEnd(15)} present in ${r.records - lacking.length}/${r.records}${lacking.length > 0 ? `  (missing: ${lacking.slice(0, 10).join(", ")}${lacking.length > 10 ? ", …" : ""})` : ""}`);
  }
  out.push(`  event.code: ${[...r.codes].sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${n}`).join(", ")}`);
  return out;
}
