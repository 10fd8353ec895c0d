import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GzipLineWriter } from "./gzipWriter.js";
import type { OutputSink, OutputWriter } from "./sink.js";

/** Output to a local folder, same layout as the blob sink; a temp file renamed into place on commit. */
export class FileSink implements OutputSink {
  private readonly root: string;

  constructor(
    dir: string,
    private readonly options: { gzipLevel?: number } = {},
  ) {
    this.root = resolve(dir);
  }

  get location(): string {
    return this.root;
  }

  async open(path: string): Promise<OutputWriter> {
    const target = this.resolve(path);
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    const file = createWriteStream(temp);
    const writer = new GzipLineWriter(file, this.options.gzipLevel);
    const closed = new Promise<void>((ok, fail) => {
      file.on("close", ok);
      file.on("error", fail);
    });
    closed.catch(() => undefined);
    return {
      write: (chunk) => writer.write(chunk),
      commit: async () => {
        writer.end();
        await closed;
        await rename(temp, target);
        return { bytes: writer.bytes };
      },
      abort: async () => {
        writer.discard();
        file.destroy();
        await closed.catch(() => undefined);
        await rm(temp, { force: true });
      },
    };
  }

  async putRaw(path: string, body: Readable | Buffer, metadata: Record<string, string>): Promise<void> {
    const target = this.resolve(path);
    await mkdir(dirname(target), { recursive: true });
    if (Buffer.isBuffer(body)) await writeFile(target, body);
    else await pipeline(body, createWriteStream(target));
    await writeFile(`${target}.meta.json`, `${JSON.stringify(metadata, null, 2)}\n`);
  }

  private resolve(path: string): string {
    const target = resolve(join(this.root, path));
    if (!target.startsWith(this.root + sep)) throw new Error(`output path escapes ${this.root}: ${path}`);
    return target;
  }
}
