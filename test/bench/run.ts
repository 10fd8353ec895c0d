import { execFileSync } from "node:child_process";
import { startAzurite } from "../../shared/local/azurite.js";
import { benchListing } from "./listing.js";
import { gzipLevels } from "./gzipLevels.js";
import { benchNormalize } from "./normalize.js";
import { auditBlob, measure, type NormalizeRun, startContentServer, tableLatencyProxy, workerBench, type WorkerMeasure } from "./streaming.js";

/**
 * `npm run bench`: the figures the closing notes quote, measured in one run on this machine.
 * Targets are printed beside the figures, never asserted in tests.
 *   BENCH_ONLY=normalize|streaming|listing  runs one part; BENCH_RECORDS, BENCH_TENANTS, BENCH_BLOB_MB (sizes, comma-separated)
 *   and BENCH_AZURITE_MB scale them; BENCH_TABLE_RTT_MS sets the round trip of the claims measure behind a proxy; BENCH_CPU_PROF=dir profiles each worker-bench child (node --cpu-prof).
 */
const only = process.env.BENCH_ONLY;
/** Records a content blob holds in the normalize bench's repeating workload: Microsoft's blobs hold from a few records to tens of thousands. */
const BLOB_RECORDS = 1_000;
const line = (ok: boolean, text: string) => console.log(`${ok ? "meets " : "MISSES"} ${text}`);

if (!only || only === "normalize") {
  const records = Number(process.env.BENCH_RECORDS ?? 200_000);
  const n = await benchNormalize(records);
  console.log(JSON.stringify({ normalize: n }, null, 2));
  line(n.ratio <= 2.0, `normalize+serialize ${n.normalize.recordsPerSecond} records/s vs JSON.parse+stringify ${n.floor.recordsPerSecond} records/s: ratio ${n.ratio} (target ≤ 2.0)`);
  console.log(
    `       of which parsing the record and serializing the ${n.averageDocumentBytes}-byte document (from ${n.averageRecordBytes}-byte records) alone: ratio ${n.documentShapeRatio}`,
  );
  line(n.normalize.recordsPerSecond >= 40_000, `normalize+serialize ${n.normalize.recordsPerSecond} records/s on one core (target ≥ 40,000)`);
  // Addresses that repeat as real tenants' do (300 a tenant), in content blobs as the worker gets them (one
  // tenant and content type each), beside the all-distinct worst case above; and the same records in turn
  // record by record (tenant and type changing with every record, which no worker sees), for comparison.
  const r = await benchNormalize(records, { addressesPerTenant: 300, blobRecords: BLOB_RECORDS });
  const mixed = await benchNormalize(records, { addressesPerTenant: 300 });
  console.log(JSON.stringify({ normalizeRepeating: { normalize: r.normalize, documentShape: r.documentShape, overDocumentShape: r.overDocumentShape } }, null, 2));
  for (const [label, m] of [[`repeating addresses (300 a tenant), in blobs of ${BLOB_RECORDS} records of one tenant and content type`, r], ["all-distinct addresses", n]] as const) {
    line(m.overDocumentShape <= 1.5, `normalize+serialize vs the document-shape floor, ${label}: ${m.normalize.recordsPerSecond} vs ${m.documentShape.recordsPerSecond} records/s, ratio ${m.overDocumentShape} (target ≤ 1.5)`);
  }
  console.log(`       the same repeating records in turn record by record (tenant and content type changing with each): ${mixed.normalize.recordsPerSecond} vs ${mixed.documentShape.recordsPerSecond} records/s, ratio ${mixed.overDocumentShape}`);
}

if (!only || only === "streaming") {
  const azurite = await startAzurite();
  const bench = await workerBench(azurite.connectionString);
  try {
    const target = (m: WorkerMeasure, label: string) => {
      const alone = m.normalizeAlone as NormalizeRun;
      line(
        (m.ratio as number) >= 0.8,
        `worker path, ${label}: ${m.worker.recordsPerSecond} records/s (best of ${m.workerRecordsPerSecond.join(", ")}) vs normalize alone ${alone.recordsPerSecond} records/s: ratio ${m.ratio} (target ≥ 0.8)`,
      );
    };
    /** The stages each timed alone, the worker's loop timed as one, and the ratio they allow at best (streaming.ts, ceilings). */
    const stageLine = (m: WorkerMeasure, split: string) => {
      if (!m.stages || !m.ceilings) return;
      const { seconds } = m.stages;
      console.log(
        `       its stages alone: normalize alone ${seconds.normalizeAlone} s; ${split} ${seconds.split} s (JSON.parse of the records in it ${seconds.parse} s), ` +
          `encode ${seconds.encode} s, claim keys ${seconds.claimKeys} s; all of these in one synchronous loop ${seconds.loop} s; gzip ${seconds.gzip} s`,
      );
      console.log(
        `       the ratio at best: ${m.ceilings.oneThread} on one thread (that loop, with no claims, I/O or compression), ` +
          `${m.ceilings.twoCores} on two cores with compression on the second, ${m.ceilings.oneCore} on one core`,
      );
    };
    const memory = (m: WorkerMeasure) => `peak RSS ${m.worker.peakRssMb} MB, ${m.recordsPerSecondPerRssMb} records/s per MB of RSS`;
    // The blob sizes of issue 11's target: a large one, and a huge one for the peak RSS.
    for (const mb of (process.env.BENCH_BLOB_MB ?? "60,250").split(",").map(Number)) {
      const blob = await auditBlob(bench, mb);
      const m = measure(bench, "o365-audit", { records: blob.records, blob, claims: "memory", alone: true });
      console.log(JSON.stringify({ streaming: m }));
      target(m, `o365-audit, ${blob.mb} MB blob of ${blob.records} records (claims in memory)`);
      if (mb >= 250) line(m.worker.peakRssMb <= 256, `worker path, o365-audit, ${blob.mb} MB blob: ${memory(m)} (target ≤ 256 MB)`);
      else console.log(`       ${memory(m)}`);
      console.log(`       the process's CPU while the item was worked: ${m.worker.cpuSeconds} s in ${m.worker.seconds} s (compression and I/O on other threads)`);
      stageLine(m, "split");
      if (mb === 60 && hasTaskset()) {
        // A 2,048 MB Flex Consumption instance (the Bicep's default) has one core: compression takes its time from the mapping's.
        const one = measure(bench, "o365-audit", { records: blob.records, blob, claims: "memory", alone: true, oneCore: true });
        console.log(JSON.stringify({ streaming: { ...one, oneCore: true } }));
        console.log(
          `       on one core (taskset): ${one.worker.recordsPerSecond} records/s vs normalize alone ${(one.normalizeAlone as NormalizeRun).recordsPerSecond}: ` +
            `ratio ${one.ratio}, at best ${m.ceilings?.oneCore} by the stages; CPU ${one.worker.cpuSeconds} s in ${one.worker.seconds} s`,
        );
        // What OUTPUT_GZIP_LEVEL trades there: the worker's time against the output's size.
        for (const gzipLevel of [1, 3]) {
          const level = measure(bench, "o365-audit", { records: blob.records, blob, claims: "memory", alone: false, oneCore: true, gzipLevel });
          console.log(JSON.stringify({ streaming: { ...level, oneCore: true, gzipLevel } }));
          const ratio = (level.worker.recordsPerSecond / (one.normalizeAlone as NormalizeRun).recordsPerSecond).toFixed(2);
          console.log(`       on one core at OUTPUT_GZIP_LEVEL=${gzipLevel}: ${level.worker.recordsPerSecond} records/s, ratio ${ratio}, output ${level.worker.outputMb} MB (${one.worker.outputMb} MB at level 5)`);
        }
      }
      if (mb === 60) {
        // The output's gzip level, by measurement on this blob's NDJSON (shared/sinks/gzipWriter.ts uses level 5).
        const ndjson = await bench.lastOutput();
        console.log(`       gzip of its ${Math.round(ndjson.length / 1048576)} MB of NDJSON, by level (time / output):`);
        for (const g of await gzipLevels(ndjson)) console.log(`         level ${g.level}: ${g.seconds} s (${g.mbPerSecond} MB/s), ${g.outputMb} MB (${g.ratio}:1)`);
        // The production path: the same blob downloaded over HTTPS, gzip-compressed, through the audit feed's own client.
        const server = await startContentServer(blob.path);
        try {
          const d = measure(bench, "o365-audit", { records: blob.records, blob, claims: "memory", alone: false, download: server.download });
          console.log(JSON.stringify({ streaming: { ...d, download: "https+gzip" } }));
          const ratio = (d.worker.recordsPerSecond / (m.normalizeAlone as NormalizeRun).recordsPerSecond).toFixed(2);
          console.log(
            `       downloaded over HTTPS, gzip-compressed, through the audit client: ${d.worker.recordsPerSecond} records/s (best of ${d.workerRecordsPerSecond.join(", ")}), ` +
              `ratio ${ratio}; CPU ${d.worker.cpuSeconds} s in ${d.worker.seconds} s; peak RSS ${d.worker.peakRssMb} MB`,
          );
        } finally {
          await server.stop();
        }
      }
    }
    // Azurite's batch transactions take tens of milliseconds each (a 250 MB blob's claims would take most
    // of an hour), so this measure runs on a smaller blob: it shows the cost of the store's round trips.
    const azuriteBlob = await auditBlob(bench, Number(process.env.BENCH_AZURITE_MB ?? 10));
    const a = measure(bench, "o365-audit", { records: azuriteBlob.records, blob: azuriteBlob, claims: "azurite", alone: true });
    console.log(JSON.stringify({ streaming: a }));
    console.log(
      `       worker path, o365-audit, claims on Azurite (a ${azuriteBlob.mb} MB blob, ${azuriteBlob.records} records: Azurite's batch transactions are slow): ` +
        `${a.worker.recordsPerSecond} records/s, ratio ${a.ratio} to normalize alone (${(a.normalizeAlone as NormalizeRun).recordsPerSecond} records/s); ${memory(a)}`,
    );
    // Azurite answers at once; the Table service is a network away. Behind a proxy that holds each answer
    // (an assumed round trip: Microsoft publishes no latency target for Table storage), the claims' round
    // trips show, and what keeping several batches' claims in flight buys.
    const rttMs = Number(process.env.BENCH_TABLE_RTT_MS ?? 20);
    const proxy = await tableLatencyProxy(azurite.connectionString, rttMs);
    try {
      const far = measure(bench, "o365-audit", { records: azuriteBlob.records, blob: azuriteBlob, claims: "azurite", alone: false, connectionString: proxy.connectionString });
      console.log(JSON.stringify({ streaming: { ...far, tableRoundTripMs: rttMs } }));
      console.log(
        `       the same with every answer of Azurite's tables held ${rttMs} ms (BENCH_TABLE_RTT_MS): ${far.worker.recordsPerSecond} records/s ` +
          `(best of ${far.workerRecordsPerSecond.join(", ")}), ratio ${(far.worker.recordsPerSecond / (a.normalizeAlone as NormalizeRun).recordsPerSecond).toFixed(2)}`,
      );
    } finally {
      await proxy.stop();
    }
    for (const [feed, records] of [["message-trace", 200_000], ["sophos-xdr", 50_000]] as const) {
      const m = measure(bench, feed, { records, claims: "memory", alone: true });
      console.log(JSON.stringify({ streaming: m }));
      target(m, `${feed}, ${records} rows from pages in memory (claims in memory)`);
      console.log(`       ${memory(m)} (the generated rows and their pages held in memory included)`);
      stageLine(m, "pages parsed");
    }
  } finally {
    await bench.close();
    await azurite.stop();
  }
}

/** Whether `taskset` (util-linux) is here to pin a child to one CPU. */
function hasTaskset(): boolean {
  try {
    execFileSync("taskset", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

if (!only || only === "listing") {
  const listing = await benchListing({ tenants: Number(process.env.BENCH_TENANTS ?? 1000), latencyMs: 50, concurrency: 16 });
  console.log(JSON.stringify({ listing }, null, 2));
  const budgetMs = 4 * 60_000;
  line(
    listing.firstRun.durationMs <= budgetMs && listing.steadyRun.durationMs <= budgetMs,
    `listing ${listing.tenants} tenants (${listing.streams} streams, concurrency ${listing.concurrency}, ${listing.apiLatencyMs} ms API latency): ` +
      `first run ${(listing.firstRun.durationMs / 1000).toFixed(1)} s (${listing.firstRun.enqueued} enqueued), steady run ${(listing.steadyRun.durationMs / 1000).toFixed(1)} s (budget 4 min)`,
  );
}
