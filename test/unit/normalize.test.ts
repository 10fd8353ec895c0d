import { describe, expect, it } from "vitest";
import { parseAddress } from "../../shared/normalize/address.js";
import { normalize } from "../../shared/normalize/index.js";
import { recordTypeName } from "../../shared/normalize/recordTypes.js";

const context = { tenantNames: new Map([["b86ab9d4-fcf1-4b11-8a06-7a8f91b47fbd", "contoso.onmicrosoft.com"]]), preserveOriginal: false, now: () => Date.parse("2026-01-01T00:00:00Z") };

// A sign-in record shaped as in Microsoft's Management Activity API schema documentation.
const signIn = {
  CreationTime: "2026-03-01T10:20:30",
  Id: "8d5f0e1c-3b2a-4c9d-8e7f-6a5b4c3d2e1f",
  Operation: "UserLoggedIn",
  OrganizationId: "B86AB9D4-FCF1-4B11-8A06-7A8F91B47FBD",
  RecordType: 15,
  ResultStatus: "Success",
  UserKey: "10037FFE8000AAAA",
  UserType: 0,
  Version: 1,
  Workload: "AzureActiveDirectory",
  ClientIP: "203.0.113.7",
  UserId: "alex@contoso.onmicrosoft.com",
};

describe("core ECS mapping", () => {
  it("maps the core fields and keeps the raw record under o365.audit", () => {
    const doc = normalize(signIn, context);
    expect(doc).toMatchObject({
      "@timestamp": "2026-03-01T10:20:30.000Z",
      ecs: { version: "8.11.0" },
      event: { kind: "event", id: signIn.Id, action: "UserLoggedIn", code: "AzureActiveDirectoryStsLogon", provider: "AzureActiveDirectory", outcome: "success" },
      organization: { id: "b86ab9d4-fcf1-4b11-8a06-7a8f91b47fbd", name: "contoso.onmicrosoft.com" },
      host: { id: "b86ab9d4-fcf1-4b11-8a06-7a8f91b47fbd", name: "contoso.onmicrosoft.com" },
      user: { id: "alex@contoso.onmicrosoft.com" },
      source: { ip: "203.0.113.7" },
      related: { ip: ["203.0.113.7"], user: ["alex@contoso.onmicrosoft.com"] },
      o365: { audit: signIn },
    });
    expect(doc.event).not.toHaveProperty("original");
  });

  it("keeps event.original when asked to", () => {
    expect((normalize(signIn, { ...context, preserveOriginal: true }).event as { original: string }).original).toBe(JSON.stringify(signIn));
  });

  it.each([
    ["Succeeded", "success"],
    ["PartiallySucceeded", "success"],
    ["True", "success"],
    ["Failed", "failure"],
    ["False", "failure"],
  ])("maps ResultStatus %s to %s", (status, outcome) => {
    expect((normalize({ ...signIn, ResultStatus: status }, context).event as { outcome: string }).outcome).toBe(outcome);
  });

  it("leaves the outcome out when the status says nothing", () => {
    expect(normalize({ ...signIn, ResultStatus: "Unknown" }, context).event).not.toHaveProperty("outcome");
  });

  it("stamps records without CreationTime with the ingest time", () => {
    const { CreationTime: _, ...rest } = signIn;
    expect(normalize(rest, context)["@timestamp"]).toBe("2026-01-01T00:00:00.000Z");
  });

  it.each([
    [null, /null, not an object/],
    ["text", /a string, not an object/],
    [[1, 2], /an array, not an object/],
    [42, /a number, not an object/],
    [{ ...signIn, Operation: 7 }, /Operation is a number, not a string/],
  ])("writes %j as a pipeline_error that keeps the original", (record, reason) => {
    const doc = normalize(record, context);
    expect(doc.event).toMatchObject({ kind: "pipeline_error" });
    expect((doc.error as { message: string }).message).toMatch(reason);
    expect(typeof (doc.event as { original: string }).original).toBe("string");
  });

  it("names record types from the table and keeps unknown numbers", () => {
    expect(recordTypeName(1)).toBe("ExchangeAdmin");
    expect(recordTypeName("25")).toBe("MicrosoftTeams");
    expect(recordTypeName(9999)).toBe("9999");
    expect(recordTypeName(undefined)).toBeUndefined();
  });
});

describe("client address forms", () => {
  it.each([
    ["203.0.113.7", { address: "203.0.113.7", ip: "203.0.113.7" }],
    ["203.0.113.7:50912", { address: "203.0.113.7:50912", ip: "203.0.113.7", port: 50912 }],
    ["[2001:db8::1]:443", { address: "[2001:db8::1]:443", ip: "2001:db8::1", port: 443 }],
    ["2001:db8::1", { address: "2001:db8::1", ip: "2001:db8::1" }],
    ["::ffff:198.51.100.2", { address: "::ffff:198.51.100.2", ip: "198.51.100.2" }],
    ["SERVER1 (10.1.2.3)", { address: "SERVER1 (10.1.2.3)", ip: "10.1.2.3" }],
    ["not an address", { address: "not an address" }],
    ["999.1.1.1", { address: "999.1.1.1" }],
  ])("parses %s", (raw, expected) => {
    expect(parseAddress(raw)).toEqual(expected);
  });

  it("ignores empty and non-string values", () => {
    expect(parseAddress("")).toBeUndefined();
    expect(parseAddress(12)).toBeUndefined();
  });
});
