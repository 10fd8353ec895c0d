import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normalize } from "../../shared/sources/o365-audit/normalize/normalize.js";

const context = { tenantNames: new Map([["0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "contoso.onmicrosoft.com"]]), preserveOriginal: true, now: () => 0 };

/** The fields the mapping reads, each given any JSON value, or a plausible one. */
const FIELDS = [
  "CreationTime", "Id", "Operation", "OrganizationId", "RecordType", "ResultStatus", "UserId", "Workload", "ClientIP",
  "ClientIPAddress", "ActorIpAddress", "UserAgent", "ObjectId", "Parameters", "ExtendedProperties", "ModifiedProperties",
  "AlertLinks", "Severity", "Platform", "Data", "PolicyDetails", "ExchangeMetaData", "SharePointMetaData", "ExceptionInfo",
  "Members", "Item", "AffectedItems", "OriginatingServer", "OrganizationName", "MailboxOwnerUPN", "LogonUserSid",
  "Name", "Comments", "EntityType", "AlertEntityId", "OperationProperties", "AdditionalInfo", "Message", "ActorYammerUserId",
  "Actions", "AppAccessContext", "DeviceName", "UserType", "FileExtension", "FileSize", "FilePath", "Sha256", "Application",
  "InternetMessageId", "NetworkMessageId", "Recipients", "SenderIp", "Subject", "Folders", "Messages", "StartTimeUtc", "RescanResult",
];
const plausible: Record<string, fc.Arbitrary<unknown>> = {
  RecordType: fc.oneof(fc.integer({ min: -2, max: 300 }), fc.constantFrom(1, 2, 6, 8, 11, 13, 15, 22, 25, 40, 50, 64)),
  Operation: fc.constantFrom("Add user.", "FileAccessed", "TeamCreated", "MemberAdded", "DlpRuleMatch", "AlertTriggered", "Update"),
  ClientIP: fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4().map((ip) => `${ip}:443`), fc.ipV6().map((ip) => `[${ip}]:8080`), fc.string()),
  Data: fc.oneof(fc.json(), fc.string(), fc.record({ Entities: fc.array(fc.dictionary(fc.constantFrom("Recipient", "Upn", "SenderIP", "ThreatDetectionMethods", "Subject"), fc.jsonValue())) }).map((d) => JSON.stringify(d))),
  Actions: fc.oneof(fc.array(fc.oneof(fc.json(), fc.dictionary(fc.string(), fc.jsonValue()), fc.string())), fc.jsonValue()),
  OperationProperties: fc.oneof(fc.json(), fc.string()),
  Parameters: fc.oneof(
    fc.array(fc.record({ Name: fc.oneof(fc.string(), fc.constantFrom("__proto__", "ForwardTo", "RedirectTo", "From", "User")), Value: fc.anything() })),
    fc.string().map((text) => `-Identity "${text}"`),
  ),
  ModifiedProperties: fc.array(fc.oneof(fc.record({ Name: fc.anything(), NewValue: fc.anything(), OldValue: fc.anything() }), fc.string())),
  CreationTime: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString().slice(0, 19)), fc.string()),
};
const record = fc.record(
  Object.fromEntries(FIELDS.map((field) => [field, fc.oneof(plausible[field] ?? fc.anything(), fc.anything())])),
  { requiredKeys: [] },
);

function check(input: unknown) {
  const doc = normalize(input, context);
  const text = JSON.stringify(doc);
  expect(typeof text).toBe("string");
  const back = JSON.parse(text) as { "@timestamp": string; event: { kind: string; category?: unknown; type?: unknown } };
  expect(Number.isNaN(Date.parse(back["@timestamp"]))).toBe(false);
  expect(["event", "alert", "pipeline_error"]).toContain(back.event.kind);
  if (back.event.kind !== "pipeline_error") {
    expect(Array.isArray(back.event.category) && Array.isArray(back.event.type)).toBe(true);
  } else {
    // A string for a record that could not be mapped, a list of them for one mapped with problems.
    const messages = [(doc.error as { message: unknown }).message].flat();
    expect(messages.length > 0 && messages.every((m) => typeof m === "string" && m !== "")).toBe(true);
    expect(typeof (doc.event as { original?: unknown }).original).toBe("string");
  }
}

describe("normalize on arbitrary input (property-based)", () => {
  it("never throws and always returns a serializable document, for any JSON value", () => {
    fc.assert(fc.property(fc.jsonValue(), check), { numRuns: 2_000 });
  });

  // Content blobs are parsed JSON, so only JSON values reach normalize in production; for anything
  // else (BigInt, Map, null-prototype objects) it must still not throw.
  it("never throws for any value at all, including non-JSON ones", () => {
    const quiet = { ...context, preserveOriginal: false };
    fc.assert(fc.property(fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true }), (value) => {
      expect(() => normalize(value, quiet)).not.toThrow();
    }), { numRuns: 2_000 });
  });

  it("never throws for records with random field types", () => {
    fc.assert(fc.property(record, check), { numRuns: 3_000 });
  });
});
