import { describe, expect, it } from "vitest";
import { parseRetryAfter } from "../../shared/http/send.js";
import { classifyTokenFailure } from "../../shared/http/token.js";
import { classify } from "../../shared/sources/o365-audit/errors.js";

describe("error classification", () => {
  it.each([
    [403, "AF429", "throttled"],
    [429, undefined, "throttled"],
    [429, "AF429", "throttled"],
    [400, "AF20022", "noSubscription"],
    [400, "AF20023", "noSubscription"],
    [400, "AF20051", "expired"],
    [400, "AF20030", "badWindow"],
    [400, "AF20055", "badWindow"],
    [401, "AF10001", "configuration"],
    [403, "AF20010", "configuration"],
    [400, "AF20011", "configuration"],
    [400, "AF20012", "configuration"],
    [400, "AF20013", "configuration"],
    [500, "AF50000", "transient"],
    [503, undefined, "transient"],
    [502, undefined, "transient"],
    [408, undefined, "transient"],
    [403, undefined, "configuration"],
    [400, "AF20050", "notFound"],
    [400, "AF29999", "fatal"],
  ] as const)("HTTP %s %s → %s", (status, code, expected) => {
    expect(classify(status, code)).toBe(expected);
  });

  it.each([
    [true, 400, "configuration"], // invalid_tenant, invalid_request
    [true, 401, "configuration"], // invalid_client: wrong secret or certificate
    [true, 403, "configuration"],
    [true, 404, "configuration"], // no such authority
    [true, undefined, "transient"], // DNS, refused, reset, TLS, timeout
    [true, 408, "transient"],
    [true, 429, "transient"],
    [true, 500, "transient"],
    [true, 503, "transient"],
    [true, 200, "transient"], // an answer the SDK could not use says nothing about the configuration
    [false, undefined, "configuration"], // failed before sending: an unreadable certificate
  ] as const)("token request sent=%s, HTTP %s → %s", (sent, status, expected) => {
    expect(classifyTokenFailure({ sent, status })).toBe(expected);
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("7", now)).toBe(7000);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
