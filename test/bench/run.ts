import { benchListing } from "./listing.js";

/** `npm run bench`: prints the figures the closing notes quote. Targets are read here, never asserted in tests. */
const TIMER_BUDGET_MS = 4 * 60_000; // O365_LIST_BUDGET default, inside the 5-minute schedule

const listing = await benchListing({ tenants: Number(process.env.BENCH_TENANTS ?? 1000), latencyMs: 50, concurrency: 16 });
console.log(JSON.stringify({ listing }, null, 2));
const verdict = listing.steadyRun.durationMs <= TIMER_BUDGET_MS && listing.firstRun.durationMs <= TIMER_BUDGET_MS ? "within" : "OVER";
console.log(
  `listing ${listing.tenants} tenants (${listing.streams} streams, concurrency ${listing.concurrency}, ${listing.apiLatencyMs} ms API latency): ` +
    `first run ${(listing.firstRun.durationMs / 1000).toFixed(1)} s (${listing.firstRun.enqueued} enqueued), ` +
    `steady run ${(listing.steadyRun.durationMs / 1000).toFixed(1)} s — ${verdict} the ${TIMER_BUDGET_MS / 60_000}-minute listing budget`,
);
