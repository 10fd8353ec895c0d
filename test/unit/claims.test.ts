import { describe, expect, it } from "vitest";
import { CLAIM_RETENTION_DAYS, CLAIM_SHARDS, claimOf, shardOf } from "../../shared/state/claims.js";
import { auditRecordKey as claimFor } from "../../shared/sources/o365-audit/recordKey.js";

const DAY = 86_400_000;
const NOW = Date.parse("2026-03-20T12:34:56Z");

describe("auditRecordKey: the claim of an audit record, from the record alone", () => {
  it("keys by Id and the record's own creation hour, whatever blob carries it", () => {
    expect(claimFor({ Id: "r1", CreationTime: "2026-03-14T08:59:59" }, NOW)).toEqual({ recordId: "r1", hour: "2026-03-14T08" });
    expect(claimFor({ Id: "r1", CreationTime: "2026-03-14T08:00:00" }, NOW + 3 * DAY)).toEqual({ recordId: "r1", hour: "2026-03-14T08" });
  });

  it("claims every record the API can still deliver: up to 14 days old", () => {
    const oldest = new Date(NOW - 14 * DAY).toISOString().slice(0, 19);
    expect(claimFor({ Id: "r2", CreationTime: oldest }, NOW)?.hour).toBe(oldest.slice(0, 13));
    expect(CLAIM_RETENTION_DAYS).toBeGreaterThan(14);
  });

  it("leaves unclaimed what the claims cannot hold: no Id, no time, past the retention, far in the future", () => {
    expect(claimFor({ CreationTime: "2026-03-14T08:00:00" }, NOW)).toBeUndefined();
    expect(claimFor({ Id: "", CreationTime: "2026-03-14T08:00:00" }, NOW)).toBeUndefined();
    expect(claimFor({ Id: "r3" }, NOW)).toBeUndefined();
    expect(claimFor({ Id: "r3", CreationTime: "yesterday" }, NOW)).toBeUndefined();
    expect(claimFor({ Id: "r3", CreationTime: new Date(NOW - (CLAIM_RETENTION_DAYS + 1) * DAY).toISOString() }, NOW)).toBeUndefined();
    expect(claimFor({ Id: "r3", CreationTime: new Date(NOW + 2 * DAY).toISOString() }, NOW)).toBeUndefined();
    expect(claimFor("not a record", NOW)).toBeUndefined();
  });
});

describe("claimOf: any feed's claim from its record's key and time", () => {
  it("keys by the given key and the time's hour", () => {
    expect(claimOf("m1|a@contoso.com|delivered", "2026-03-19T23:59:59.123Z", NOW)).toEqual({ recordId: "m1|a@contoso.com|delivered", hour: "2026-03-19T23" });
  });

  it("leaves unclaimed a key too long for a row key", () => {
    expect(claimOf("x".repeat(513), "2026-03-19T23:00:00Z", NOW)).toBeUndefined();
  });
});

describe("shardOf: the partition of a claim among its tenant's hour's", () => {
  it("is the same function it was: a copy of a record claimed before must look where its claim is", () => {
    expect(CLAIM_SHARDS).toBe(8);
    expect(["", "a", "r1", "7f0c2ad6-2f3e-4c1b-9a55-0b8e2c9d1e01", "m1|a@contoso.com|delivered"].map(shardOf)).toEqual([5, 4, 4, 6, 0]);
  });

  it("spreads an hour's records evenly, so that no partition takes much more than its share of the Table service's 2,000 entities a second", () => {
    const keys = [
      ...Array.from({ length: 8_000 }, (_, i) => `${(i * 2654435761 >>> 0).toString(16).padStart(8, "0")}-2f3e-4c1b-9a55-${String(i).padStart(12, "0")}`),
      ...Array.from({ length: 8_000 }, (_, i) => `<msg${i}@contoso.com>|user${i % 300}@contoso.com|delivered`),
    ];
    const counts = new Array<number>(CLAIM_SHARDS).fill(0);
    for (const key of keys) counts[shardOf(key)]! += 1;
    const share = keys.length / CLAIM_SHARDS;
    for (const count of counts) expect(Math.abs(count - share) / share).toBeLessThan(0.1);
  });
});
