import { once } from "node:events";
import type { Writable } from "node:stream";
import { pipelineErrorDocument } from "../ecs/document.js";
import { normalizeToLine, type NormalizeContext } from "../sources/o365-audit/normalize/normalize.js";
import { splitJson } from "../pipeline/split.js";
import { messageTracePipelineError, messageTraceRows, normalizeMessageTraceToLine, type MessageTraceContext } from "../sources/message-trace/normalize.js";

/**
 * `audit-intake normalize`: raw records in (a JSON array, NDJSON, or JSON objects one after another),
 * one ECS document per record out, in the same order. A record that is not valid JSON becomes a
 * pipeline_error document that keeps its text and says where it was. Streams both ways, so a file of
 * any size fits in memory (a saved message-trace page is one JSON value, held while it is read).
 */
export async function normalizeStream(input: AsyncIterable<Buffer | string>, output: Writable, context: NormalizeContext): Promise<number> {
  return writeDocuments(input, output, (value) => [normalizeToLine(value, context).line], (text, message) => pipelineErrorDocument(text, message, context));
}

/** The same for message-trace rows: each value read may be a page (`{"d":{"results":[…]}}`, `{"value":[…]}`) and is unwrapped. */
export async function normalizeMessageTraceStream(input: AsyncIterable<Buffer | string>, output: Writable, context: MessageTraceContext): Promise<number> {
  return writeDocuments(
    input,
    output,
    (value) => messageTraceRows(value).map((row) => normalizeMessageTraceToLine(row, context).line),
    (text, message) => messageTracePipelineError(text, message, context),
  );
}

/** Writes the lines of every value read, and a pipeline_error line for each value that is not JSON; returns the lines written. */
async function writeDocuments(
  input: AsyncIterable<Buffer | string>,
  output: Writable,
  linesOf: (value: unknown) => string[],
  errorDocument: (text: string, message: string) => Record<string, unknown>,
): Promise<number> {
  let count = 0;
  for await (const item of splitJson(input)) {
    const lines = item.kind === "value" ? linesOf(item.value) : [`${JSON.stringify(errorDocument(item.text, item.message))}\n`];
    for (const line of lines) {
      count += 1;
      if (!output.write(line)) await once(output, "drain");
    }
  }
  return count;
}
