import { once } from "node:events";
import { type Writable } from "node:stream";
import { createGzip, type Gzip } from "node:zlib";

/** Lines → gzip → destination, with backpressure, counting compressed bytes. */
export class GzipLineWriter {
  readonly gzip: Gzip = createGzip({ level: 6 });
  bytes = 0;

  constructor(destination: Writable) {
    this.gzip.on("data", (chunk: Buffer) => {
      this.bytes += chunk.length;
    });
    this.gzip.pipe(destination);
  }

  async write(line: string): Promise<void> {
    if (!this.gzip.write(line)) await once(this.gzip, "drain");
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
