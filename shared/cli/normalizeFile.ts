import { once } from "node:events";
import type { Writable } from "node:stream";
import { normalizeToLine, pipelineErrorDocument, type NormalizeContext } from "../normalize/index.js";
import { splitJson } from "../pipeline/split.js";

/**
 * `audit-intake normalize`: raw audit records in (a JSON array, NDJSON, or JSON objects one after
 * another), one ECS document per record out, in the same order. A record that is not valid JSON
 * becomes a pipeline_error document that keeps its text and says where it was. Streams both ways,
 * so a file of any size fits in memory.
 */
export async function normalizeStream(input: AsyncIterable<Buffer | string>, output: Writable, context: NormalizeContext): Promise<number> {
  let count = 0;
  for await (const item of splitJson(input)) {
    const line = item.kind === "value" ? normalizeToLine(item.value, context).line : `${JSON.stringify(pipelineErrorDocument(item.text, item.message, context))}\n`;
    count += 1;
    if (!output.write(line)) await once(output, "drain");
  }
  return count;
}
