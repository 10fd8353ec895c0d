import { describe, expect, it } from "vitest";
import { canonicalIp, parseClientAddress, parseServerAddress } from "../../shared/ecs/address.js";
import { normalize, type NormalizeContext } from "../../shared/sources/o365-audit/normalize/normalize.js";

const context: NormalizeContext = { tenantNames: new Map(), preserveOriginal: false, now: () => Date.parse("2024-03-07T00:00:00Z") };

describe("canonicalIp", () => {
  it.each([
    // RFC 5952: lower case, no leading zeros, the longest zero run compressed (the first of equals), a single zero group kept.
    ["2001:0DB8:0000:0000:0000:0000:0000:00A1", "2001:db8::a1"],
    ["2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["::1", "::1"],
    // A zone stays as written.
    ["FE80::0001%Ethernet0", "fe80::1%Ethernet0"],
    // Any spelling of an IPv4-mapped address is the IPv4 address.
    ["::ffff:198.51.100.7", "198.51.100.7"],
    ["::FFFF:198.51.100.7", "198.51.100.7"],
    ["0:0:0:0:0:ffff:c633:6407", "198.51.100.7"],
    // Other embedded IPv4 forms are plain IPv6.
    ["::198.51.100.7", "::c633:6407"],
    ["203.0.113.24", "203.0.113.24"],
  ])("%s → %s", (text, expected) => {
    expect(canonicalIp(text)).toBe(expected);
  });

  it.each([["unknown"], [""], ["01.2.3.4"], ["[2001:db8::1]"], ["2001:db8::1%"], [42], [null], [undefined]])("%j is no IP", (value) => {
    expect(canonicalIp(value)).toBeUndefined();
  });
});

describe("client and server addresses: address as Elastic writes it, ip canonical", () => {
  it("keeps the address as sent and writes the canonical IP", () => {
    expect(parseClientAddress("2001:0DB8:0000:0000:0000:0000:0000:00A1")).toEqual({ address: "2001:0DB8:0000:0000:0000:0000:0000:00A1", ip: "2001:db8::a1" });
    // Elastic's "::ffff:" rewrite is case-sensitive: this address stays, its IP is the IPv4 one.
    expect(parseClientAddress("[::FFFF:198.51.100.7]:443")).toEqual({ address: "::FFFF:198.51.100.7", ip: "198.51.100.7", port: 443 });
    expect(parseClientAddress("::ffff:198.51.100.7")).toEqual({ address: "198.51.100.7", ip: "198.51.100.7" });
    expect(parseServerAddress("EXO01 (2001:DB8::10)\r\n")).toEqual({ domain: "EXO01", address: "2001:DB8::10", ip: "2001:db8::10" });
    expect(parseServerAddress("EXO01 (unknown)")).toEqual({ domain: "EXO01", address: "unknown" });
  });

  // Records shaped as in the Management Activity API's common and Exchange admin schemas; values invented.
  it("maps a sign-in from an upper-case, uncompressed IPv6 address (G1)", () => {
    const doc = normalize(
      {
        CreationTime: "2024-03-05T09:12:44",
        Id: "6c0f3b9a-2d41-4f7e-9a8b-1c2d3e4f5a6b",
        Operation: "UserLoggedIn",
        OrganizationId: "4A7C8238-5799-4B16-9FC6-9AD8FCE5A7D9",
        RecordType: 15,
        UserId: "kai.lee@contoso.com",
        Workload: "AzureActiveDirectory",
        ClientIP: "2001:0DB8:0000:0000:0000:0000:0000:00A1",
      },
      context,
    );
    expect(doc).toMatchObject({
      client: { address: "2001:0DB8:0000:0000:0000:0000:0000:00A1", ip: "2001:db8::a1" },
      source: { ip: "2001:db8::a1" },
      network: { type: "ipv6" },
      related: { ip: ["2001:db8::a1"] },
    });
  });

  it("maps an Exchange admin cmdlet from a mapped client and an IPv6 server (I2)", () => {
    const doc = normalize(
      { Id: "1", RecordType: 1, Operation: "Set-Mailbox", CreationTime: "2024-03-05T10:00:00", ClientIP: "[::FFFF:198.51.100.7]:443", OriginatingServer: "EXO01 (2001:DB8::10)\r\n" },
      context,
    );
    expect(doc).toMatchObject({
      client: { address: "::FFFF:198.51.100.7", ip: "198.51.100.7", port: 443 },
      source: { ip: "198.51.100.7", port: 443 },
      network: { type: "ipv4" },
      server: { address: "2001:DB8::10", domain: "EXO01", ip: "2001:db8::10" },
      destination: { ip: "2001:db8::10" },
      related: { ip: ["198.51.100.7", "2001:db8::10"] },
    });
  });
});
