import { createReadStream } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { normalizeStream } from "../../shared/cli/normalizeFile.js";
import { getPath, isMap } from "../../shared/ecs/doc.js";
import { splitJson } from "../../shared/pipeline/split.js";
import type { NormalizeContext } from "../../shared/sources/o365-audit/normalize/normalize.js";
import { auditMapper } from "../../shared/sources/o365-audit/offline.js";

/**
 * The raw-record check: every record in every file under DIR (NDJSON or a JSON array, as the
 * `normalize` CLI reads them) must normalize without `event.kind: pipeline_error` and carry the
 * fields Elastic's dashboards and rules key on. No expectations: this checks coverage, not values.
 */
export const REQUIRED_FIELDS = ["@timestamp", "event.id", "event.action", "event.code", "event.category", "event.type", "event.outcome"] as const;

/**
 * The raw field a required field is made from, where it has one: a record that lacks it (no
 * Operation, no RecordType or one that cannot be an AuditLogRecordType, whose values are positive
 * integers) cannot have the field without inventing a value, so it is counted apart from a record
 * whose field the mapping lost. A positive RecordType the mapping does not know counts as lost: the
 * check does not take the mapping's own table as its measure.
 */
const SOURCES: Partial<Record<(typeof REQUIRED_FIELDS)[number], (record: Record<string, unknown>) => boolean>> = {
  "event.id": (record) => present(record, "Id"),
  "event.action": (record) => present(record, "Operation"),
  "event.code": (record) => /^[1-9]\d*$/.test(String(record.RecordType ?? "")),
};

export interface RawCheckResult {
  files: number;
  records: number;
  pipelineErrors: { file: string; line: number; message: string }[];
  /** Field → records (file:line) that lack it though they carry what it is made from: the mapping's failures. */
  missing: Map<string, string[]>;
  /** Field → records (file:line) that lack it because the record has nothing to make it from. */
  notInRecord: Map<string, string[]>;
  /** event.code → records. */
  codes: Map<string, number>;
}

function present(doc: Record<string, unknown>, path: string): boolean {
  const value = getPath(doc, path);
  return value !== undefined && value !== null && value !== "" && !(Array.isArray(value) && value.length === 0);
}

export async function checkRawRecords(dir: string, context: NormalizeContext): Promise<RawCheckResult> {
  const files = (await readdir(dir)).filter((f) => /\.(log|ndjson|jsonl|json)$/.test(f) && !f.endsWith("-expected.json")).sort();
  const result: RawCheckResult = { files: files.length, records: 0, pipelineErrors: [], missing: new Map(), notInRecord: new Map(), codes: new Map() };
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
    // The records themselves, in the same order, to tell a lost field from one the record never had.
    const records: unknown[] = [];
    for await (const item of splitJson(createReadStream(join(dir, file)))) records.push(item.kind === "value" ? item.value : undefined);
    lines.forEach((line, index) => {
      const where = `${file}:${index + 1}`;
      const doc = JSON.parse(line) as Record<string, unknown> & { event: { kind?: string; code?: string }; error?: { message?: unknown } };
      result.records += 1;
      if (doc.event.kind === "pipeline_error") result.pipelineErrors.push({ file, line: index + 1, message: String(doc.error?.message) });
      const record = records[index];
      for (const field of REQUIRED_FIELDS) {
        if (present(doc, field)) continue;
        const source = SOURCES[field];
        const lost = source === undefined || (isMap(record) && source(record));
        const tally = lost ? result.missing : result.notInRecord;
        tally.set(field, [...(tally.get(field) ?? []), where]);
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
  const list = (where: string[]) => `${where.slice(0, 10).join(", ")}${where.length > 10 ? ", …" : ""}`;
  for (const field of REQUIRED_FIELDS) {
    const lacking = r.missing.get(field) ?? [];
    const none = r.notInRecord.get(field) ?? [];
    const present = r.records - lacking.length - none.length;
    out.push(
      `  ${field.padEnd(15)} present in ${present}/${r.records}` +
        (lacking.length > 0 ? `  (missing: ${list(lacking)})` : "") +
        (none.length > 0 ? `  (${none.length} records have nothing to make it from: ${list(none)})` : ""),
    );
  }
  out.push(`  event.code: ${[...r.codes].sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${n}`).join(", ")}`);
  return out;
}
