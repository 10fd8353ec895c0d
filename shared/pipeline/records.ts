import { Transform, type Readable, type TransformCallback } from "node:stream";
import { JSONParser } from "@streamparser/json-node";

/**
 * Streams the records of a content blob (a JSON array) one at a time, so memory is bounded by the
 * largest record, not the blob. Anything that is not a JSON array fails with a message saying so.
 */
export class InvalidContentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InvalidContentError";
  }
}

/** Checks that the first significant byte opens an array, then gets out of the way. */
class ArrayStartGuard extends Transform {
  private checked = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (!this.checked) {
      let i = 0;
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3; // UTF-8 BOM
      while (i < chunk.length && (chunk[i] === 0x20 || chunk[i] === 0x0a || chunk[i] === 0x0d || chunk[i] === 0x09)) i += 1;
      if (i < chunk.length) {
        if (chunk[i] !== 0x5b) {
          done(new InvalidContentError(`content is not a JSON array (starts with ${JSON.stringify(String.fromCharCode(chunk[i] as number))})`));
          return;
        }
        this.checked = true;
        chunk = chunk.subarray(i);
      } else {
        done();
        return;
      }
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    done(this.checked ? null : new InvalidContentError("content is empty"));
  }
}

export async function* streamRecords(source: Readable): AsyncGenerator<unknown> {
  const guard = new ArrayStartGuard();
  const parser = new JSONParser({ paths: ["$.*"], keepStack: false });
  const fail = (error: Error) => parser.destroy(error instanceof InvalidContentError ? error : new InvalidContentError(`content is not valid JSON: ${error.message}`, { cause: error }));
  source.on("error", (error) => parser.destroy(error));
  guard.on("error", fail);
  source.pipe(guard).pipe(parser);
  try {
    for await (const item of parser as AsyncIterable<{ value: unknown }>) yield item.value;
  } catch (error) {
    if (error instanceof InvalidContentError || (error as { code?: string }).code !== undefined) throw error;
    throw new InvalidContentError(`content is not valid JSON: ${(error as Error).message}`, { cause: error });
  } finally {
    source.destroy();
  }
}
