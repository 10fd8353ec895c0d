import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { once } from "node:events";
import { normalizeToLine, pipelineErrorDocument, type NormalizeContext } from "../normalize/index.js";
import { streamRecords } from "../pipeline/records.js";

/**
 * `audit-intake normalize`: raw audit records in (a JSON array or NDJSON), one ECS document per
 * record out, in the same order. Streams both ways, so a file of any size fits in memory.
 */
export async function normalizeStream(input: Readable, output: Writable, context: NormalizeContext): Promise<number> {
  const { kind, stream } = await sniff(input);
  let count = 0;
  const emit = async (record: unknown) => {
    count += 1;
    if (!output.write(normalizeToLine(record, context).line)) await once(output, "drain");
  };
  if (kind === "array") {
    for await (const record of streamRecords(stream)) await emit(record);
  } else {
    let lineNumber = 0;
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
      lineNumber += 1;
      if (line.trim() === "") continue;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch (error) {
        // Still one output line per input line: a pipeline_error that keeps the text.
        count += 1;
        const doc = pipelineErrorDocument(line, `line ${lineNumber} is not JSON: ${(error as Error).message}`, context);
        if (!output.write(`${JSON.stringify(doc)}\n`)) await once(output, "drain");
        continue;
      }
      await emit(record);
    }
  }
  return count;
}

/** Peeks at the first significant byte (`[` means a JSON array, anything else NDJSON) and puts it back. */
async function sniff(input: Readable): Promise<{ kind: "array" | "ndjson"; stream: Readable }> {
  const seen: Buffer[] = [];
  let kind: "array" | "ndjson" = "ndjson";
  for (;;) {
    const chunk = input.read() as Buffer | string | null;
    if (chunk === null) {
      if (input.readableEnded || input.destroyed) break;
      await Promise.race([once(input, "readable"), once(input, "end")]);
      continue;
    }
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    seen.push(buffer);
    const text = buffer.toString("utf8").replace(/^\uFEFF/, "").trimStart();
    if (text.length > 0) {
      kind = text.startsWith("[") ? "array" : "ndjson";
      break;
    }
  }
  if (seen.length > 0) input.unshift(Buffer.concat(seen));
  return { kind, stream: input };
}
