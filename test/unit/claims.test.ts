import { describe, expect, it } from "vitest";
import { CLAIM_RETENTION_DAYS, claimOf } from "../../shared/state/claims.js";
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
