import { openGeoIp } from "../../shared/ecs/geoip.js";
import { withDataStream } from "../../shared/ecs/document.js";
import { generateMessageTraces } from "../../shared/sources/message-trace/simulator.js";
import { MESSAGE_TRACE_DATASET, normalizeMessageTraceToLine } from "../../shared/sources/message-trace/normalize.js";
import { messageTraceRecordKey } from "../../shared/sources/message-trace/recordKey.js";
import { O365_AUDIT_DATASET } from "../../shared/sources/o365-audit/dataset.js";
import { normalizeToLine } from "../../shared/sources/o365-audit/normalize/normalize.js";
import { auditRecordKey } from "../../shared/sources/o365-audit/recordKey.js";
import { generateXdrRows } from "../../shared/sources/sophos-xdr/simulator.js";
import { normalizeSophosXdrToLine, SOPHOS_XDR_DATASET } from "../../shared/sources/sophos-xdr/normalize.js";
import { sophosXdrRecordKey } from "../../shared/sources/sophos-xdr/recordKey.js";
import type { ClaimRequest } from "../../shared/state/claims.js";
import { generateRecords } from "./normalize.js";

/**
 * What the worker benchmarks feed through the worker's path and through the normalizer alone: each
 * feed's records (generated, deterministic) and its per-record calls as its source wires them, with
 * the enrichment on (user agents, GeoIP and ASN with the test databases, URL parts).
 */
export const BENCH_FEEDS = ["o365-audit", "message-trace", "sophos-xdr"] as const;
export type BenchFeed = (typeof BENCH_FEEDS)[number];

/**
 * The worker's clock in the benchmarks: shortly after every generated record, so that each record's
 * claim is made (a record older than the claims' retention is written unclaimed, doing less work).
 */
export const BENCH_NOW = Date.parse("2026-01-02T00:00:00Z");
/** The content ids the bench's content server answers: the blob, and an empty one that warms the client up. */
export const BENCH_CONTENT_ID = "benchblob";
export const BENCH_WARM_UP_ID = "benchwarmup";
const RECORDS_FROM = Date.parse("2026-01-01T00:00:00Z");
/** The time-window feeds' one tenant; its domain is the message-trace feed's local mail. */
export const BENCH_TENANT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const TENANTS = [{ id: BENCH_TENANT_ID, domain: "contoso.onmicrosoft.com" }];

export interface FeedCalls {
  dataset: string;
  /** `text`: the JSON the record was parsed from, as the worker hands it on with a content blob's records (see Source.toLine). */
  toLine(record: unknown, text?: string): { line: string; pipelineError: boolean };
  recordKey(record: unknown, now: number): ClaimRequest | undefined;
}

export async function feedCalls(feed: BenchFeed, geoipDir: string): Promise<FeedCalls> {
  const geoip = await openGeoIp({ city: `${geoipDir}/GeoLite2-City-Test.mmdb`, asn: `${geoipDir}/GeoLite2-ASN-Test.mmdb` });
  const now = () => BENCH_NOW;
  switch (feed) {
    case "o365-audit": {
      const context = { tenantNames: new Map<string, string>(), preserveOriginal: false, now, ...(geoip ? { geoip } : {}) };
      const map = withDataStream(O365_AUDIT_DATASET, "default");
      return { dataset: O365_AUDIT_DATASET, toLine: (record, text) => normalizeToLine(record, context, map, text), recordKey: auditRecordKey };
    }
    case "message-trace": {
      const context = { localDomains: [TENANTS[0]!.domain], namespace: "default", now, preserveOriginal: false, ...(geoip ? { geoip } : {}) };
      return { dataset: MESSAGE_TRACE_DATASET, toLine: (row) => normalizeMessageTraceToLine(row, context), recordKey: messageTraceRecordKey };
    }
    case "sophos-xdr": {
      const context = { namespace: "default", now, preserveOriginal: false, ...(geoip ? { geoip } : {}) };
      return { dataset: SOPHOS_XDR_DATASET, toLine: (row) => normalizeSophosXdrToLine(row, context), recordKey: sophosXdrRecordKey };
    }
  }
}

/** The audit blob's records, endlessly: the normalize bench's generated records, each with an Id of its own so that claims do real work. */
export function* auditRecordTexts(): Generator<string> {
  const batch = generateRecords(5_000, 11);
  for (let index = 0; ; index += 1) yield batch[index % batch.length]!.replace(/"Id":"[^"]+"/, `"Id":"r${index}"`);
}

/** `count` rows of a time-window feed, as JSON texts, from its simulator's generator (one tenant, one day). */
export function rowTexts(feed: Exclude<BenchFeed, "o365-audit">, count: number): string[] {
  const day = { from: RECORDS_FROM, to: RECORDS_FROM + 86_400_000 };
  // The generators space records by a mean interval: pick it so that a day holds a few more than `count`.
  const rows =
    feed === "message-trace"
      ? generateMessageTraces({ tenants: TENANTS, ...day, messageIntervalMs: Math.floor((86_400_000 / count) * 2.2) }).map((trace) => trace.row)
      : generateXdrRows({ tenantIds: [TENANTS[0]!.id], ...day, detectionIntervalMs: Math.floor((86_400_000 / count) * 0.9) }).map((row) => row.row);
  if (rows.length < count) throw new Error(`generated ${rows.length} ${feed} rows, fewer than ${count}`);
  return rows.slice(0, count).map((row) => JSON.stringify(row));
}

/** Where a page of each time-window feed holds its rows (Graph's `value`, Sophos's `items`), and how many the bench puts in one. */
const PAGES = { "message-trace": { key: "value", size: 1_000 }, "sophos-xdr": { key: "items", size: 2_000 } } as const;

/** Rows grouped into the pages their API returns, as the page reader gets them. */
export function pageTexts(feed: Exclude<BenchFeed, "o365-audit">, rows: readonly string[]): string[] {
  const { key, size } = PAGES[feed];
  const pages: string[] = [];
  for (let at = 0; at < rows.length; at += size) pages.push(`{"${key}":[${rows.slice(at, at + size).join(",")}]}`);
  return pages;
}

/** A page parsed whole, as the feed's page reader parses a response body, and its rows. */
export function pageRows(feed: Exclude<BenchFeed, "o365-audit">, page: string): unknown[] {
  return (JSON.parse(page) as Record<string, unknown[]>)[PAGES[feed].key]!;
}
