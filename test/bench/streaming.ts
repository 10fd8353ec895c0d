import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { generateRecords } from "./normalize.js";

/**
 * Peak memory of the worker's streaming path on one huge content blob: a child process runs
 * processContent (download stream → parser → normalize → record claims → gzip → file) on a
 * generated blob of about 250 MB, and reports its own peak RSS. Azurite (ledger, claims) runs
 * in another process, so its memory is not counted.
 */
export async function writeBlob(path: string, targetBytes: number): Promise<{ bytes: number; records: number }> {
  const out = createWriteStream(path);
  const batch = generateRecords(5_000, 11);
  let bytes = 1;
  let records = 0;
  out.write("[");
  for (let round = 0; bytes < targetBytes; round += 1) {
    for (const text of batch) {
      // Unique Ids, so record claims do real work.
      const line = `${records === 0 ? "" : ","}${text.replace(/"Id":"[^"]+"/, `"Id":"r${records}"`)}`;
      bytes += Buffer.byteLength(line);
      records += 1;
      if (!out.write(line)) await once(out, "drain");
      if (bytes >= targetBytes) break;
    }
  }
  out.end("]");
  await once(out, "close");
  return { bytes: (await stat(path)).size, records };
}

export async function benchStreaming(connectionString: string, targetBytes = 250 * 1024 * 1024, claims: "azurite" | "memory" = "memory") {
  const dir = await mkdtemp(join(tmpdir(), "audit-intake-stream-"));
  try {
    const blob = join(dir, "blob.json");
    const { bytes, records } = await writeBlob(blob, targetBytes);
    // Bundled and run on plain node, as the Functions host runs the app: a TypeScript loader's own
    // thread would otherwise be counted in the peak.
    const child = join(fileURLToPath(new URL("../../.local/bench/", import.meta.url)), "streamingChild.mjs");
    await build({ entryPoints: [fileURLToPath(new URL("./streamingChild.ts", import.meta.url))], bundle: true, platform: "node", format: "esm", packages: "external", outfile: child, logLevel: "error" });
    const output = execFileSync(process.execPath, [child, blob, join(dir, "out"), connectionString, claims], { encoding: "utf8", maxBuffer: 1 << 20 });
    const result = JSON.parse(output.trim().split("\n").at(-1) as string) as { records: number; seconds: number; peakRssMb: number };
    return { blobMb: Math.round(bytes / 1024 / 1024), generatedRecords: records, claims, ...result };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

