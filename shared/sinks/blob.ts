import { PassThrough, type Readable } from "node:stream";
import type { ContainerClient } from "@azure/storage-blob";
import { GzipLineWriter } from "./gzipWriter.js";
import type { OutputSink, OutputWriter } from "./sink.js";

const BLOCK_SIZE = 4 * 1024 * 1024;
const PARALLEL_BLOCKS = 2;

/** Output to a blob container; block blobs commit atomically when the upload completes. */
export class BlobSink implements OutputSink {
  constructor(
    private readonly container: ContainerClient,
    private readonly options: { gzipLevel?: number } = {},
  ) {}

  get location(): string {
    return this.container.url;
  }

  async ensure(): Promise<void> {
    await this.container.createIfNotExists();
  }

  async open(path: string): Promise<OutputWriter> {
    const pass = new PassThrough();
    const writer = new GzipLineWriter(pass, this.options.gzipLevel);
    const upload = this.container
      .getBlockBlobClient(path)
      .uploadStream(pass, BLOCK_SIZE, PARALLEL_BLOCKS, { blobHTTPHeaders: { blobContentType: "application/gzip" } });
    // Keep an early upload failure from becoming an unhandled rejection before commit() awaits it.
    upload.catch(() => undefined);
    return {
      write: (chunk) => writer.write(chunk),
      commit: async () => {
        writer.end();
        await upload;
        return { bytes: writer.bytes };
      },
      abort: async (reason) => {
        // Failing the source makes uploadStream reject before it commits the block list.
        writer.discard();
        pass.on("error", () => undefined);
        pass.destroy(reason);
        await upload.catch(() => undefined);
      },
    };
  }

  async putRaw(path: string, body: Readable | Buffer, metadata: Record<string, string>): Promise<void> {
    const blob = this.container.getBlockBlobClient(path);
    const safeMetadata = Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, encodeURIComponent(v).slice(0, 2000)]));
    if (Buffer.isBuffer(body)) {
      await blob.uploadData(body, { metadata: safeMetadata, blobHTTPHeaders: { blobContentType: "application/json" } });
    } else {
      await blob.uploadStream(body, BLOCK_SIZE, PARALLEL_BLOCKS, { metadata: safeMetadata, blobHTTPHeaders: { blobContentType: "application/json" } });
    }
  }
}
