import { describe, expect, it } from "vitest";
import { z } from "zod";
import { sophosXdrRows } from "../../shared/sources/sophos-xdr/offline.js";
import { sophosXdrRecordKey } from "../../shared/sources/sophos-xdr/recordKey.js";
import { readSophosXdr, sophosXdrProblems, sophosXdrSettings } from "../../shared/sources/sophos-xdr/settings.js";
import { sophosXdrSource } from "../../shared/sources/sophos-xdr/source.js";

const NOW = Date.parse("2026-11-28T12:00:00Z");

describe("Sophos XDR record keys", () => {
  it("keys a row by record_identifier in the hour of its own event time", () => {
    expect(sophosXdrRecordKey({ record_identifier: "r1", detection_identifier: "d1", calendar_time: "2026-11-28T09:22:11.000Z" }, NOW)).toEqual({ recordId: "r1", hour: "2026-11-28T09" });
  });

  it("falls back to detection_identifier, then detection_id_dedup, and to the ingestion time", () => {
    expect(sophosXdrRecordKey({ record_identifier: "-", detection_identifier: "d1", calendar_time: "2026-11-28T09:00:00Z" }, NOW)?.recordId).toBe("d1");
    expect(sophosXdrRecordKey({ detection_id_dedup: "x9", ingestion_timestamp: "2026-11-28T10:01:00Z" }, NOW)).toEqual({ recordId: "x9", hour: "2026-11-28T10" });
  });

  it("leaves unclaimed a row without an identifier or a time", () => {
    expect(sophosXdrRecordKey({ calendar_time: "2026-11-28T09:00:00Z" }, NOW)).toBeUndefined();
    expect(sophosXdrRecordKey({ record_identifier: "r1" }, NOW)).toBeUndefined();
    expect(sophosXdrRecordKey("not a row", NOW)).toBeUndefined();
  });
});

describe("Sophos XDR exports", () => {
  it("unwraps a saved results page and an array, and takes any other value as one row", () => {
    expect(sophosXdrRows({ items: [{ a: 1 }, { a: 2 }], pages: { nextKey: "k" } })).toEqual([{ a: 1 }, { a: 2 }]);
    expect(sophosXdrRows([{ a: 1 }])).toEqual([{ a: 1 }]);
    expect(sophosXdrRows({ record_identifier: "r" })).toEqual([{ record_identifier: "r" }]);
  });
});

describe("Sophos XDR settings", () => {
  const parse = (env: Record<string, string>) => readSophosXdr(z.object(sophosXdrSettings).parse(env));

  it("is off by default, with Sekoia's threshold and a 30-day reach", () => {
    expect(parse({})).toMatchObject({ enabled: false, threshold: 3, lookbackMs: 30 * 86_400_000, overlapMs: 30 * 60_000, pageSize: 2000, tenantAllowList: [] });
  });

  it("needs its credential only while it is on", () => {
    expect(sophosXdrProblems({})).toEqual([]);
    expect(sophosXdrProblems({ SOPHOS_ENABLED: "true" }).map((p) => p.setting)).toEqual(["SOPHOS_CLIENT_ID", "SOPHOS_CLIENT_SECRET"]);
    expect(sophosXdrProblems({ SOPHOS_ENABLED: "true", SOPHOS_CLIENT_ID: "c", SOPHOS_CLIENT_SECRET: "s" })).toEqual([]);
  });

  it("refuses a reach past the Data Lake's 90 days, a threshold outside 0-10, and an allow-list of non-GUIDs", () => {
    const schema = z.object(sophosXdrSettings);
    expect(schema.safeParse({ SOPHOS_LOOKBACK: "91d" }).success).toBe(false);
    expect(schema.safeParse({ SOPHOS_THRESHOLD: "11" }).success).toBe(false);
    expect(schema.safeParse({ SOPHOS_TENANT_IDS: "not-a-guid" }).success).toBe(false);
    expect(parse({ SOPHOS_TENANT_IDS: "F7193486-A186-4197-AB40-0DDC013A0A65" }).tenantAllowList).toEqual(["f7193486-a186-4197-ab40-0ddc013a0a65"]);
  });

  it("refuses timings that could never plan a window or poll a run before giving it up", () => {
    const on = { SOPHOS_ENABLED: "true", SOPHOS_CLIENT_ID: "c", SOPHOS_CLIENT_SECRET: "s" };
    expect(sophosXdrProblems({ ...on, SOPHOS_LOOKBACK: "8m" }).map((p) => p.setting)).toEqual(["SOPHOS_LOOKBACK"]);
    expect(sophosXdrProblems({ ...on, SOPHOS_POLL_INTERVAL: "40m" }).map((p) => p.setting)).toEqual(["SOPHOS_POLL_INTERVAL"]);
    expect(sophosXdrProblems({ ...on, SOPHOS_LOOKBACK: "1d", SOPHOS_POLL_INTERVAL: "2s" })).toEqual([]);
  });

  it("keeps its secret out of every message", () => {
    expect(sophosXdrSource.secretSettings).toEqual(["SOPHOS_CLIENT_SECRET"]);
  });
});

describe("Sophos XDR work items", () => {
  const base = { from: "2026-11-28T10:00:00.000Z", to: "2026-11-28T11:00:00.000Z", apiHost: "https://api-eu01.central.sophos.com", submissions: 0 };

  it("carries its state through the queue: submit, then poll a run", () => {
    expect(sophosXdrSource.item.safeParse({ step: "submit", ...base }).success).toBe(true);
    expect(sophosXdrSource.item.safeParse({ step: "poll", ...base, runId: "3f2a-77", submittedAt: "2026-11-28T11:06:00.000Z", polls: 2 }).success).toBe(true);
  });

  it("refuses an item that is neither, or a poll without its run", () => {
    expect(sophosXdrSource.item.safeParse({ step: "read", ...base }).success).toBe(false);
    expect(sophosXdrSource.item.safeParse({ step: "poll", ...base }).success).toBe(false);
    expect(sophosXdrSource.item.safeParse({ step: "poll", ...base, runId: "../x", submittedAt: "2026-11-28T11:06:00.000Z", polls: 0 }).success).toBe(false);
  });
});
