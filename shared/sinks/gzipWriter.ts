import { type Writable } from "node:stream";
import { createGzip, type Gzip } from "node:zlib";

/** zlib's output buffer: a batch of lines (about 1 MB) compresses in one job on the thread pool, not one per 16 KB. */
const CHUNK_SIZE = 256 * 1024;

/** Lines → gzip → destination, with backpressure, counting compressed bytes. */
export class GzipLineWriter {
  readonly gzip: Gzip = createGzip({ level: 6, chunkSize: CHUNK_SIZE });
  bytes = 0;

  constructor(destination: Writable) {
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
