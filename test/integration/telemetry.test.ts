import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { describe, expect, it } from "vitest";
import { METRIC_NAMES } from "../../shared/telemetry/metrics.js";
import { cleanupAfterEach, Clock, collector } from "../helpers/harness.js";
import { simulator, TENANT_A, TENANT_B, tenants } from "../helpers/simulator.js";

const MIN = 60_000;
const H = 60 * MIN;
const T0 = Date.now();
const cleanups = cleanupAfterEach();

describe("telemetry (metrics with source, tenant and stream dimensions)", () => {
  it("counts listing, outcomes, records, bytes, API requests and throttling, and records lag", async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    cleanups.push(() => provider.shutdown());

    const clock = new Clock(T0);
    const sim = await simulator({
      tenants: tenants([TENANT_A, TENANT_B]),
      from: T0 - 3 * H,
      to: T0,
      blobIntervalMs: 30 * MIN,
      contentTypes: ["Audit.Exchange", "DLP.All"],
      now: clock.now,
      seed: 9,
      faults: { throttle429Rate: 0.1, retryAfterSeconds: 0, expiredRate: 0.15 },
    });
    cleanups.push(() => sim.stop());
    const c = await collector(sim, clock, { O365_TENANT_IDS: `${TENANT_A},${TENANT_B}`, O365_CONTENT_TYPES: "Audit.Exchange,DLP.All" }, undefined, { meter: provider.getMeter("test") });
    cleanups.push(() => c.close());
    await c.runtime.list(c.log);
    await c.drain();
    await reader.forceFlush();

    const metrics = exporter.getMetrics().flatMap((m) => m.scopeMetrics.flatMap((s) => s.metrics));
    const points = (name: string) => metrics.filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints as { attributes: Record<string, unknown>; value: unknown }[]);
    const sum = (name: string, where: Record<string, unknown> = {}) =>
      points(name)
        .filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v))
        .reduce((n, p) => n + (p.value as number), 0);

    const blobs = (tenant: string, type: string) => sim.blobs.filter((b) => b.tenantId === tenant && b.contentType === type);
    expect(sum(METRIC_NAMES.listed, { source: "o365-audit", tenant: TENANT_A, stream: "DLP.All" })).toBe(blobs(TENANT_A, "DLP.All").length);
    expect(sum(METRIC_NAMES.enqueued)).toBe(sim.blobs.length);
    expect(sum(METRIC_NAMES.expired)).toBe(sim.blobs.filter((b) => b.expired).length);
    expect(sum(METRIC_NAMES.processed)).toBe(sim.blobs.filter((b) => !b.expired).length);
    expect(sum(METRIC_NAMES.records)).toBe(sim.expectedRecordIds().size);
    expect(sum(METRIC_NAMES.bytes)).toBe(c.runtime.stats.bytesWritten);
    expect(sum(METRIC_NAMES.requests)).toBe(sim.stats.apiRequests);
    expect(sum(METRIC_NAMES.throttled)).toBe(sim.stats.throttled);
    // Every point names its feed; every API request but subscriptions/list is for a stream (a content type).
    expect(metrics.flatMap((m) => m.dataPoints as { attributes: Record<string, unknown> }[]).every((p) => p.attributes.source === "o365-audit")).toBe(true);
    expect(points(METRIC_NAMES.requests).every((p) => p.attributes.stream !== undefined || p.attributes.operation === "subscriptions")).toBe(true);
    expect(sum(METRIC_NAMES.requests, { tenant: TENANT_B, stream: "DLP.All", operation: "content" })).toBeGreaterThan(0);
    expect(sim.stats.throttled).toBeGreaterThan(0);

    const lag = points(METRIC_NAMES.lag) as unknown as { attributes: Record<string, unknown>; value: { count: number; min?: number; max?: number } }[];
    const cursorLag = lag.filter((p) => p.attributes.of === "cursor");
    const contentLag = lag.filter((p) => p.attributes.of === "work");
    expect(cursorLag.map((p) => `${p.attributes.tenant}|${p.attributes.stream}`).sort()).toEqual(
      [TENANT_A, TENANT_B].flatMap((t) => [`${t}|Audit.Exchange`, `${t}|DLP.All`]).sort(),
    );
    expect(contentLag.reduce((n, p) => n + p.value.count, 0)).toBe(sim.blobs.filter((b) => !b.expired).length);
    expect(Math.max(...contentLag.map((p) => p.value.max ?? 0))).toBeLessThanOrEqual(3 * 3600 + 60);
  });
});
