import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { build } from "esbuild";
import { CLIENT_ID } from "../helpers/simulator.js";
import type { ChildTask, ContentDownload } from "./streamingChild.js";
import { auditRecordTexts, type BenchFeed, BENCH_TENANT_ID } from "./workloads.js";

/**
 * The worker's path end to end against the normalizer alone, on the same records in one run (issue 11:
 * end-to-end ≥ 0.8 × normalize + serialization alone; peak RSS ≤ 256 MB on a 250 MB blob). Each
 * measurement is a child process of its own, so that one's memory is not counted in another's peak.
 * Azurite (ledger, claims) runs in yet another process, so its memory is not counted either.
 */
export async function writeBlob(path: string, targetBytes: number): Promise<{ bytes: number; records: number }> {
  const out = createWriteStream(path);
  let bytes = 1;
  let records = 0;
  out.write("[");
  for (const text of auditRecordTexts()) {
    const element = `${records === 0 ? "" : ","}${text}`;
    bytes += Buffer.byteLength(element);
    records += 1;
    if (!out.write(element)) await once(out, "drain");
    if (bytes >= targetBytes) break;
  }
  out.end("]");
  await once(out, "close");
  return { bytes: (await stat(path)).size, records };
}

export interface WorkerRun {
  records: number;
  seconds: number;
  recordsPerSecond: number;
  /** CPU time of the whole process while the item was worked: every thread's, compression's on the thread pool too. */
  cpuSeconds: number;
  peakRssMb: number;
  outputMb: number;
}

export interface NormalizeRun {
  records: number;
  seconds: number;
  recordsPerSecond: number;
}

/** The worker path's stages, each timed alone on the same records, and its loop timed as one (streamingChild.ts, stages). */
export interface StageRun {
  records: number;
  seconds: { normalizeAlone: number; loop: number; split: number; parse: number; encode: number; claimKeys: number; gzip: number };
}

/**
 * What the stages say the worker's ratio can reach at best, if it waited for nothing: normalize alone
 * against the worker's loop (records split, keyed, mapped and encoded in one synchronous pass, no claims,
 * I/O or compression). On one thread, that loop alone; with two cores, the larger of the loop and half
 * of all the CPU (compression's on the second core); with one core, as on a 2,048 MB Flex Consumption
 * instance, the loop's CPU and compression's add up.
 */
export function ceilings(stages: StageRun) {
  const { normalizeAlone, loop, gzip } = stages.seconds;
  return {
    oneThread: Number((normalizeAlone / loop).toFixed(2)),
    twoCores: Number((normalizeAlone / Math.max(loop, (loop + gzip) / 2)).toFixed(2)),
    oneCore: Number((normalizeAlone / (loop + gzip)).toFixed(2)),
  };
}

export interface WorkerMeasure {
  feed: BenchFeed;
  claims: "memory" | "azurite";
  /** The audit feed's content blob, in MB; none for a feed whose rows come in pages. */
  blobMb?: number;
  /** The fastest of the worker's runs, with the highest peak RSS of them all. */
  worker: WorkerRun;
  /** Each run's records/s, in order. */
  workerRecordsPerSecond: number[];
  /** Records/s per MB of peak RSS. */
  recordsPerSecondPerRssMb: number;
  normalizeAlone?: NormalizeRun;
  /** The worker's records/s over the normalizer's alone (target ≥ 0.8). */
  ratio?: number;
  stages?: StageRun;
  ceilings?: ReturnType<typeof ceilings>;
}

export interface WorkerBench {
  /** Runs tasks in children; the bundle is built once. */
  /** `oneCore`: the child pinned to one CPU (taskset), as a one-core instance runs it. */
  /** `connectionString`: the storage the child's ledger and claims use, when not the bench's Azurite itself. */
  run<T>(task: Omit<ChildTask, "geoipDir" | "outDir" | "connectionString">, options?: { oneCore?: boolean; connectionString?: string }): T;
  /** The NDJSON the last run of the worker wrote, decompressed. */
  lastOutput(): Promise<Buffer>;
  dir: string;
  close(): Promise<void>;
}

export async function workerBench(connectionString: string): Promise<WorkerBench> {
  const dir = await mkdtemp(join(tmpdir(), "audit-intake-stream-"));
  // Bundled and run on plain node, as the Functions host runs the app: a TypeScript loader's own
  // thread would otherwise be counted in the peak.
  const child = join(fileURLToPath(new URL("../../.local/bench/", import.meta.url)), "streamingChild.mjs");
  await build({ entryPoints: [fileURLToPath(new URL("./streamingChild.ts", import.meta.url))], bundle: true, platform: "node", format: "esm", packages: "external", outfile: child, logLevel: "error" });
  const geoipDir = fileURLToPath(new URL("../fixtures/geoip", import.meta.url));
  let runs = 0;
  let workerOutDir = "";
  return {
    dir,
    run<T>(task: Omit<ChildTask, "geoipDir" | "outDir" | "connectionString">, options: { oneCore?: boolean; connectionString?: string } = {}): T {
      runs += 1;
      const outDir = join(dir, `out${runs}`);
      if (task.mode === "worker") workerOutDir = outDir;
      const full: ChildTask = { ...task, geoipDir, outDir, connectionString: options.connectionString ?? connectionString };
      const profile = process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
      const command = [process.execPath, "--expose-gc", ...profile, child, JSON.stringify(full)];
      const [file, ...args] = options.oneCore ? ["taskset", "--cpu-list", "0", ...command] : command;
      const output = execFileSync(file as string, args, { encoding: "utf8", maxBuffer: 1 << 20 });
      return JSON.parse(output.trim().split("\n").at(-1) as string) as T;
    },
    async lastOutput() {
      const files = await readdir(workerOutDir, { recursive: true });
      const output = files.find((file) => file.endsWith(".ndjson.gz"));
      if (!output) throw new Error(`no output under ${workerOutDir}`);
      return gunzipSync(await readFile(join(workerOutDir, output)));
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * One feed's records through the worker, and (unless only the worker is asked for) through its normalizer
 * alone. The two are measured in turn, three times each, and each keeps its best: this machine's speed
 * drifts by 5–10% within minutes, and a single worker run against the normalizer's best of three would
 * charge that drift to the worker. The peak RSS is the highest of the worker's runs.
 */
export function measure(
  bench: WorkerBench,
  feed: BenchFeed,
  options: {
    records: number;
    blob?: { path: string; mb: number };
    claims: "memory" | "azurite";
    alone: boolean;
    oneCore?: boolean;
    gzipLevel?: number;
    download?: ContentDownload;
    /** The storage of the worker's ledger and claims, when not the bench's Azurite itself (a proxy in front of it). */
    connectionString?: string;
  },
): WorkerMeasure {
  const source = options.blob ? { blob: options.blob.path } : {};
  const childOptions = { oneCore: options.oneCore ?? false, ...(options.connectionString ? { connectionString: options.connectionString } : {}) };
  const level = options.gzipLevel !== undefined ? { gzipLevel: options.gzipLevel } : {};
  const download = options.download ? { download: options.download } : {};
  const runs: WorkerRun[] = [];
  const alone: NormalizeRun[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    runs.push(bench.run<WorkerRun>({ mode: "worker", feed, records: options.records, claims: options.claims, ...source, ...level, ...download }, childOptions));
    if (options.alone) alone.push(bench.run<NormalizeRun>({ mode: "normalize", feed, records: options.records, claims: options.claims }, childOptions));
  }
  const fastest = <T extends { recordsPerSecond: number }>(list: T[]) => list.reduce((best, run) => (run.recordsPerSecond > best.recordsPerSecond ? run : best));
  const worker = { ...fastest(runs), peakRssMb: Math.max(...runs.map((run) => run.peakRssMb)) };
  const result: WorkerMeasure = {
    feed,
    claims: options.claims,
    ...(options.blob ? { blobMb: options.blob.mb } : {}),
    worker,
    workerRecordsPerSecond: runs.map((run) => run.recordsPerSecond),
    recordsPerSecondPerRssMb: Number((worker.recordsPerSecond / worker.peakRssMb).toFixed(1)),
  };
  if (!options.alone) return result;
  const normalizeAlone = fastest(alone);
  const ratio = Number((worker.recordsPerSecond / normalizeAlone.recordsPerSecond).toFixed(2));
  const stages = bench.run<StageRun>({ mode: "stages", feed, records: options.records, claims: options.claims, ...source });
  return { ...result, normalizeAlone, ratio, stages, ceilings: ceilings(stages) };
}

/** Worker runs (and normalize-alone runs) per measure. */
const ROUNDS = 3;

/** A generated content blob of about `mb` MB in the bench's folder. */
export async function auditBlob(bench: WorkerBench, mb: number): Promise<{ path: string; mb: number; records: number }> {
  const path = join(bench.dir, `blob${mb}.json`);
  const { bytes, records } = await writeBlob(path, mb * 1024 * 1024);
  return { path, mb: Math.round(bytes / 1024 / 1024), records };
}

/**
 * The bench's content server (contentServer.ts) in a process of its own, serving `blobPath` gzip-compressed
 * over HTTPS as the Management Activity API serves content: the worker's children then download it
 * through the audit feed's own client, as they would on Azure (less the network).
 */
export async function startContentServer(blobPath: string): Promise<{ download: ContentDownload; stop(): Promise<void> }> {
  const credentials = { clientId: CLIENT_ID, clientSecret: `bench-${process.pid}` };
  const server = await benchProcess<Omit<ContentDownload, "clientId" | "clientSecret">>("contentServer", [blobPath, BENCH_TENANT_ID, credentials.clientId, credentials.clientSecret]);
  return { download: { ...server.ready, ...credentials }, stop: server.stop };
}

/**
 * The bench's Azurite behind a proxy (latencyProxy.ts, a process of its own) that holds each of its table
 * answers for `delayMs`: the connection string to use instead, whose table endpoint is the proxy's.
 */
export async function tableLatencyProxy(connectionString: string, delayMs: number): Promise<{ connectionString: string; stop(): Promise<void> }> {
  const tablePort = /TableEndpoint=http:\/\/127\.0\.0\.1:(\d+)\//.exec(connectionString)?.[1];
  if (!tablePort) throw new Error("the bench's connection string names no local table endpoint");
  const proxy = await benchProcess<{ port: number }>("latencyProxy", [tablePort, String(delayMs)]);
  return {
    connectionString: connectionString.replace(`TableEndpoint=http://127.0.0.1:${tablePort}/`, `TableEndpoint=http://127.0.0.1:${proxy.ready.port}/`),
    stop: proxy.stop,
  };
}

/**
 * One of the bench's helper processes (`{name}.ts` beside this file), bundled and started on plain node:
 * what it prints as its first line (JSON) once it is ready, and how to stop it.
 */
async function benchProcess<T>(name: string, args: string[]): Promise<{ ready: T; stop(): Promise<void> }> {
  const script = join(fileURLToPath(new URL("../../.local/bench/", import.meta.url)), `${name}.mjs`);
  await build({ entryPoints: [fileURLToPath(new URL(`./${name}.ts`, import.meta.url))], bundle: true, platform: "node", format: "esm", packages: "external", outfile: script, logLevel: "error" });
  const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const [first] = (await once(createInterface({ input: child.stdout }), "line")) as [string];
  return {
    ready: JSON.parse(first) as T,
    async stop() {
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}
