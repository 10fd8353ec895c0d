import type { Readable } from "node:stream";
import { JsonSplitter, type SplitItem } from "./split.js";

/**
 * Streams the records of a content blob (a JSON array) one at a time, so memory is bounded by the
 * largest record, not the blob. Content that is not a JSON array, or is cut short before the array
 * closes, fails with a message saying so; inside a whole array, an element that is not valid JSON
 * (or text after the array) is handed on as an UnreadableRecord in its place, so that the good ones
 * around it are still written.
 */
export class InvalidContentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InvalidContentError";
  }
}

/** Text of the content that is not a record: the worker writes it as a pipeline_error document, keeping the text. */
export class UnreadableRecord {
  constructor(
    readonly text: string,
    /** What is wrong and where: the element's number, line, column and byte offset. */
    readonly message: string,
  ) {}
}

export async function* streamRecords(source: Readable): AsyncGenerator<unknown> {
  const splitter = new JsonSplitter();
  try {
    for await (const chunk of arrayContent(source)) {
      for (const item of splitter.push(chunk)) yield recordOf(item);
    }
    // Content cut short is not one bad element: the records after the cut are missing, so the whole
    // item fails and its raw bytes are kept (records written so far are not committed).
    if (splitter.insideArray) {
      const cut = splitter.end().find((item) => item.kind === "error");
      throw new InvalidContentError(`content is cut short: ${cut?.kind === "error" ? cut.message : "its JSON array is not closed"}`);
    }
    for (const item of splitter.end()) yield recordOf(item);
  } finally {
    source.destroy();
  }
}

/** A value is a record; anything else the splitter found is kept with what is wrong and where. */
function recordOf(item: SplitItem): unknown {
  if (item.kind === "value") return item.value;
  // The splitter names the line and column; the byte offset finds it in a blob that is one long line.
  return new UnreadableRecord(item.text, `${item.message}; it starts at byte offset ${item.position.offset}`);
}

const BOM = [0xef, 0xbb, 0xbf];
const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const OPEN_BRACKET = 0x5b;

/**
 * The source's chunks, unchanged, once its first significant byte (after an optional UTF-8 BOM and
 * whitespace) opens an array: anything else (an error page, a single object, nothing) is no content
 * blob, and the whole item fails so that its raw bytes are kept.
 */
async function* arrayContent(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  /** Bytes read before the first significant one, and how many of them began the input as a BOM does. */
  let skipped = 0;
  let bom = 0;
  let opened = false;
  for await (const chunk of source) {
    for (let i = 0; !opened && i < chunk.length; i += 1) {
      const byte = chunk[i]!;
      const inBom = skipped === bom && bom < BOM.length;
      skipped += 1;
      if (inBom && byte === BOM[bom]) bom += 1;
      // Part of a BOM followed by something else: its first byte is the content's first.
      else if (inBom && bom > 0) throw notAnArray(BOM[0]!);
      else if (byte !== SPACE && byte !== TAB && byte !== LF && byte !== CR) {
        if (byte !== OPEN_BRACKET) throw notAnArray(byte);
        opened = true;
      }
    }
    yield chunk;
  }
  if (!opened) throw new InvalidContentError("content is empty");
}

function notAnArray(firstByte: number): InvalidContentError {
  return new InvalidContentError(`content is not a JSON array (starts with ${JSON.stringify(String.fromCharCode(firstByte))})`);
}
