import { once } from "node:events";
import { createGzip } from "node:zlib";

/**
 * The gzip level, by measurement: the worker's NDJSON output compressed at each level as the worker
 * compresses it (zlib on the thread pool, written in batch-sized pieces), best of two rounds.
 */
export interface GzipLevel {
  level: number;
  seconds: number;
  mbPerSecond: number;
  outputMb: number;
  ratio: number;
}

const LEVELS = [1, 3, 5, 6];
const PIECE = 1 << 20;

export async function gzipLevels(ndjson: Buffer): Promise<GzipLevel[]> {
  const results: GzipLevel[] = [];
  for (const level of LEVELS) {
    let best = Infinity;
    let bytes = 0;
    for (let round = 0; round < 2; round += 1) {
      const gzip = createGzip({ level, chunkSize: 256 * 1024 });
      let written = 0;
      gzip.on("data", (chunk: Buffer) => {
        written += chunk.length;
      });
      const started = performance.now();
      for (let at = 0; at < ndjson.length; at += PIECE) if (!gzip.write(ndjson.subarray(at, at + PIECE))) await once(gzip, "drain");
      gzip.end();
      await once(gzip, "end");
      best = Math.min(best, (performance.now() - started) / 1000);
      bytes = written;
    }
    results.push({
      level,
      seconds: Number(best.toFixed(2)),
      mbPerSecond: Math.round(ndjson.length / 1048576 / best),
      outputMb: Number((bytes / 1048576).toFixed(1)),
      ratio: Number((ndjson.length / bytes).toFixed(2)),
    });
  }
  return results;
}
