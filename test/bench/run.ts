import { startAzurite } from "../../shared/local/azurite.js";
import { benchListing } from "./listing.js";
import { benchNormalize } from "./normalize.js";
import { benchStreaming } from "./streaming.js";

/**
 * `npm run bench`: the figures the closing notes quote, measured in one run on this machine.
 * Targets are printed beside the figures, never asserted in tests.
 *   BENCH_ONLY=normalize|streaming|listing  runs one part; BENCH_TENANTS, BENCH_BLOB_MB scale them.
 */
const only = process.env.BENCH_ONLY;
const line = (ok: boolean, text: string) => console.log(`${ok ? "meets " : "MISSES"} ${text}`);

if (!only || only === "normalize") {
  const n = await benchNormalize(Number(process.env.BENCH_RECORDS ?? 200_000));
  console.log(JSON.stringify({ normalize: n }, null, 2));
  line(n.ratio <= 2.0, `normalize+serialize ${n.normalize.recordsPerSecond} records/s vs JSON.parse+stringify ${n.floor.recordsPerSecond} records/s: ratio ${n.ratio} (target ≤ 2.0)`);
  console.log(
    `       of which parsing the record and serializing the ${n.averageDocumentBytes}-byte document (from ${n.averageRecordBytes}-byte records) alone: ratio ${n.documentShapeRatio}`,
  );
  line(n.normalize.recordsPerSecond >= 40_000, `normalize+serialize ${n.normalize.recordsPerSecond} records/s on one core (target ≥ 40,000)`);
  // Addresses that repeat as real tenants' do (300 a tenant) beside the all-distinct worst case above.
  const r = await benchNormalize(Number(process.env.BENCH_RECORDS ?? 200_000), { addressesPerTenant: 300 });
  console.log(JSON.stringify({ normalizeRepeating: { normalize: r.normalize, documentShape: r.documentShape, overDocumentShape: r.overDocumentShape } }, null, 2));
  for (const [label, m] of [["repeating addresses (300 a tenant)", r], ["all-distinct addresses", n]] as const) {
    line(m.overDocumentShape <= 1.5, `normalize+serialize vs the document-shape floor, ${label}: ${m.normalize.recordsPerSecond} vs ${m.documentShape.recordsPerSecond} records/s, ratio ${m.overDocumentShape} (target ≤ 1.5)`);
  }
}

if (!only || only === "streaming") {
  const azurite = await startAzurite();
  try {
    const claims = process.env.BENCH_CLAIMS === "azurite" ? "azurite" : "memory";
    const s = await benchStreaming(azurite.connectionString, Number(process.env.BENCH_BLOB_MB ?? 250) * 1024 * 1024, claims);
    console.log(JSON.stringify({ streaming: s }, null, 2));
    line(s.peakRssMb <= 256, `worker streaming path (record claims: ${s.claims}): ${s.blobMb} MB blob, ${s.records} records in ${s.seconds} s, peak RSS ${s.peakRssMb} MB (target ≤ 256 MB)`);
  } finally {
    await azurite.stop();
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
