import type { Readable } from "node:stream";
import { JsonSplitter, type SplitItem } from "./split.js";

/**
 * Streams the records of a content blob (a JSON array), those each piece of the stream completes
 * together, so memory is bounded by the largest record and a piece, not the blob. Content that is not
 * a JSON array, or is cut short before the array closes, fails with a message saying so; inside a
 * whole array, an element that is not valid JSON (or text after the array) is handed on as an
 * UnreadableRecord in its place, so that the good ones around it are still written.
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

/**
 * A record with the JSON text it was parsed from. The worker hands both to the feed, and reads nothing of
 * the record afterwards: the feed may map the record in place instead of copying it, as the text keeps
 * the original (for event.original, and for a pipeline_error document if the mapping fails half-way).
 */
export class ParsedRecord {
  constructor(
    readonly value: unknown,
    readonly text: string,
  ) {}
}

/**
 * The size of the pieces a content stream should hand to streamRecords, where its producer can choose
 * (a decompressor's output chunk, a file's reads). Each piece of a decompressor or a file read is one
 * thread-pool job whose callback must run on the main thread before the next starts, so a piece costs
 * a turn of the event loop that the mapping rarely gives: with zlib's default 16 KiB, the 60 MB bench
 * blob downloaded over HTTPS, gzip-compressed, through the audit client went through the worker at
 * 29,600 records/s, with 256 KiB pieces at 36,800 (`npm run bench`; read from a file: 1.70 s in 64 KiB
 * reads, 1.37–1.42 s in 256 KiB ones). Memory holds a few pieces.
 */
export const CONTENT_CHUNK_BYTES = 256 * 1024;

export async function* streamRecords(source: Readable): AsyncGenerator<readonly unknown[]> {
  const splitter = new JsonSplitter();
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      const items = splitter.push(chunk);
      // Anything but an array (an error page, a single object) is no content blob: the whole item fails,
      // before any of it is handed on, so that its raw bytes are kept.
      const first = splitter.firstByte;
      if (first !== undefined && first !== OPEN_BRACKET) throw notAnArray(first);
      if (items.length > 0) yield items.map(recordOf);
    }
    // Asked before end(): bytes held back as a possible BOM are no content either.
    if (splitter.firstByte === undefined) throw new InvalidContentError("content is empty");
    // Content cut short is not one bad element: the records after the cut are missing, so the whole
    // item fails and its raw bytes are kept (records written so far are not committed).
    if (splitter.insideArray) {
      const cut = splitter.end().find((item) => item.kind === "error");
      throw new InvalidContentError(`content is cut short: ${cut?.kind === "error" ? cut.message : "its JSON array is not closed"}`);
    }
    const last = splitter.end();
    if (last.length > 0) yield last.map(recordOf);
  } finally {
    source.destroy();
  }
}

/** A value is a record, with its text; anything else the splitter found is kept with what is wrong and where. */
function recordOf(item: SplitItem): ParsedRecord | UnreadableRecord {
  if (item.kind === "value") return new ParsedRecord(item.value, item.text);
  // The splitter names the line and column; the byte offset finds it in a blob that is one long line.
  return new UnreadableRecord(item.text, `${item.message}; it starts at byte offset ${item.position.offset}`);
}

const OPEN_BRACKET = 0x5b;

function notAnArray(firstByte: number): InvalidContentError {
  return new InvalidContentError(`content is not a JSON array (starts with ${JSON.stringify(String.fromCharCode(firstByte))})`);
}
