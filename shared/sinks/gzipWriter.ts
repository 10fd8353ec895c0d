import { type Writable } from "node:stream";
import { createGzip, type Gzip } from "node:zlib";

/**
 * The compression level unless OUTPUT_GZIP_LEVEL says otherwise, by measurement (`npm run bench`: the
 * 60 MB blob's 113 MB of NDJSON, zlib on this 2-core machine, time / output):
 *   level 1: 0.45 s / 20.5 MB   level 3: 0.50 s / 18.7 MB   level 5: 0.73 s / 15.8 MB   level 6: 0.93 s / 15.5 MB
 * Level 6 (zlib's default) buys its last 2% of size with 27% more time. Level 3 would take a third less
 * time than 5 but store and ship 18% more bytes for as long as the output is kept. Compression runs on
 * the thread pool beside the mapping: on a 2-core machine, with the worker's turn of the event loop
 * every 2 ms, the 60 MB blob (content in memory) took 1.41 s at level 5 against 1.39 s stored; on a
 * one-core instance its whole time adds to the item's (OUTPUT_GZIP_LEVEL 1 or 3 moves 12–19% or 8–18%
 * more records a second there).
 */
export const DEFAULT_GZIP_LEVEL = 5;
/** zlib's output buffer: a batch of lines (about 1 MB) compresses in one job on the thread pool, not one per 16 KB. */
const CHUNK_SIZE = 256 * 1024;

/** Lines → gzip → destination, with backpressure, counting compressed bytes. */
export class GzipLineWriter {
  readonly gzip: Gzip;
  bytes = 0;

  constructor(destination: Writable, level = DEFAULT_GZIP_LEVEL) {
    this.gzip = createGzip({ level, chunkSize: CHUNK_SIZE });
    this.gzip.on("data", (chunk: Buffer) => {
      this.bytes += chunk.length;
    });
    this.gzip.pipe(destination);
  }

  /**
   * Resolves once zlib has consumed the whole chunk (its callback), not when the stream's buffer has
   * room: the caller reuses the chunk's memory next, and a small chunk would otherwise be "accepted"
   * before it is compressed. zlib works on the thread pool, so the caller goes on meanwhile.
   */
  write(chunk: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.gzip.write(chunk, (error) => (error ? reject(error) : resolve()));
    });
  }

  end(): void {
    this.gzip.end();
  }

  /** Stops compressing; no 'error' is emitted (nobody would listen), the caller reports the reason. */
  discard(): void {
    this.gzip.unpipe();
    this.gzip.destroy();
  }
}
