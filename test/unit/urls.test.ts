import { describe, expect, it } from "vitest";
import { UntrustedUrlError } from "../../shared/http/errors.js";
import { assertFeedUrl } from "../../shared/sources/o365-audit/urls.js";

const API = "https://manage.office.com";
const T = "11111111-1111-4111-8111-111111111111";
const good = `${API}/api/v1.0/${T}/activity/feed/audit/20150101$x$audit_sharepoint$Audit_SharePoint$na0031`;

describe("content URI guard (no SSRF through a forged message)", () => {
  it("accepts the API's own content URIs for the message's tenant", () => {
    expect(assertFeedUrl(API, T, good).pathname).toContain("/activity/feed/audit/");
    expect(() => assertFeedUrl(API, T.toUpperCase(), good.replace(T, T.toUpperCase()))).not.toThrow();
  });

  it.each([
    ["http://manage.office.com/api/v1.0/T/activity/feed/audit/x", /scheme http: is not https/],
    ["https://evil.example/api/v1.0/T/activity/feed/audit/x", /host evil.example is not the API host/],
    ["https://manage.office.com.evil.example/api/v1.0/T/activity/feed/audit/x", /is not the API host/],
    ["https://manage.office.com:8443/api/v1.0/T/activity/feed/audit/x", /is not the API host/],
    ["https://user:pw@manage.office.com/api/v1.0/T/activity/feed/audit/x", /credentials in URL/],
    ["https://manage.office.com/api/v1.0/22222222-2222-4222-8222-222222222222/activity/feed/audit/x", /not under the feed of tenant/],
    ["https://manage.office.com/api/v1.0/T/activity/feed/../../22222222-2222-4222-8222-222222222222/activity/feed/audit/x", /not under the feed of tenant/],
    ["https://manage.office.com/api/v1.0/T/activity/feed/audit%2F..%2F..%2Fother", /encoded separators/],
    ["https://manage.office.com/other/T", /not under the feed of tenant/],
    ["not a url", /not a URL/],
  ])("refuses %s", (url, reason) => {
    expect(() => assertFeedUrl(API, T, url.replace(/\/T\//g, `/${T}/`))).toThrow(reason);
    expect(() => assertFeedUrl(API, T, url.replace(/\/T\//g, `/${T}/`))).toThrow(UntrustedUrlError);
  });
});
