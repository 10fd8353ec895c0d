import type { O365AuditConfig } from "../../shared/sources/o365-audit/settings.js";
import { parseSettings } from "../../shared/config/settings.js";
import { startAzurite } from "../../shared/local/azurite.js";
import { createRuntime } from "../../shared/runtime.js";
import { startSimulator } from "../../shared/simulator/server.js";
import { silentLogger } from "../../shared/util/log.js";

/**
 * Listing at scale: can one timer run list 1,000 tenants × 5 content types well inside the
 * 5-minute schedule? Measures a first run (2 h of content to enqueue) and a steady-state run
 * (re-listing the overlap, nothing new), against the simulator with API latency, on Azurite.
 */
export interface ListingBenchOptions {
  tenants: number;
  latencyMs: number;
  concurrency: number;
}

export async function benchListing({ tenants, latencyMs, concurrency }: ListingBenchOptions) {
  const azurite = await startAzurite();
  const now = Date.now();
  let clock = now;
  const ids = Array.from({ length: tenants }, (_, i) => `${i.toString(16).padStart(8, "0")}-0000-4000-8000-${(i * 7919).toString(16).padStart(12, "0").slice(-12)}`);
  const sim = await startSimulator({
    tenants: ids.map((id, i) => ({ id, domain: `t${i}.onmicrosoft.com` })),
    clientId: "5a0c3e71-2d9b-4c8f-a6e4-1f7b3d9c0e52",
    clientSecret: "bench",
    from: now - 2 * 3_600_000,
    to: now,
    blobIntervalMs: 3_600_000,
    recordsPerBlob: [1, 1],
    pageSize: 100,
    now: () => clock,
    faults: { latencyMs },
  });
  const settings = parseSettings({
    O365_TENANT_IDS: ids.join(","),
    O365_CLIENT_ID: "5a0c3e71-2d9b-4c8f-a6e4-1f7b3d9c0e52",
    O365_CLIENT_SECRET: "bench",
    O365_API_BASE_URL: sim.apiBaseUrl,
    O365_LOGIN_BASE_URL: sim.loginBaseUrl,
    O365_INITIAL_LOOKBACK: "3h",
    LIST_CONCURRENCY: String(concurrency),
    LIST_BUDGET: "10m",
    DataStorage: azurite.connectionString,
  });
  const runtime = await createRuntime(settings, { trustedCa: sim.ca, now: () => clock });
  try {
    const wall = async () => {
      const started = performance.now();
      const summary = await runtime.list(silentLogger);
      return { ...summary, durationMs: Math.round(performance.now() - started) };
    };
    const first = await wall();
    clock += 5 * 60_000;
    const requestsBefore = sim.stats.apiRequests;
    const steady = await wall();
    return {
      tenants,
      streams: tenants * (settings.sources.get("o365-audit") as O365AuditConfig).contentTypes.length,
      concurrency,
      apiLatencyMs: latencyMs,
      firstRun: { durationMs: first.durationMs, enqueued: first.enqueued, failedStreams: first.failedStreams, deferredStreams: first.deferredStreams },
      steadyRun: { durationMs: steady.durationMs, listRequests: sim.stats.apiRequests - requestsBefore, enqueued: steady.enqueued, failedStreams: steady.failedStreams },
    };
  } finally {
    await runtime.close();
    await sim.stop();
    await azurite.stop();
  }
}
