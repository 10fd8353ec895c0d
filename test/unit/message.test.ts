import { describe, expect, it } from "vitest";
import { parseContentMessage } from "../../shared/pipeline/message.js";
import { decodeMessage, encodeMessage } from "../../shared/pipeline/contentQueue.js";

const API = "https://manage.office.com";
const T = "11111111-1111-4111-8111-111111111111";
const valid = {
  v: 1,
  tenantId: T,
  contentType: "Audit.SharePoint",
  contentId: "20150101$x$audit_sharepoint$Audit_SharePoint$na0031",
  contentUri: `${API}/api/v1.0/${T}/activity/feed/audit/20150101$x$audit_sharepoint$Audit_SharePoint$na0031`,
  contentCreated: "2026-01-01T00:00:00.000Z",
  contentExpiration: "2026-01-08T00:00:00.000Z",
};

describe("content queue message", () => {
  it("accepts a valid message as an object, a JSON string or bytes, defaulting the throttle count", () => {
    for (const payload of [valid, JSON.stringify(valid), Buffer.from(JSON.stringify(valid))]) {
      const parsed = parseContentMessage(payload, API);
      expect(parsed).toEqual({ ok: true, message: { ...valid, throttled: 0 } });
    }
  });

  it("round-trips through the queue's base64 encoding", () => {
    const message = { ...valid, v: 1 as const, contentType: "Audit.SharePoint" as const, throttled: 2 };
    expect(parseContentMessage(decodeMessage(encodeMessage(message)), API)).toEqual({ ok: true, message });
  });

  it.each([
    ["{not json", /message is not JSON/],
    [{ ...valid, v: 2 }, /v: unsupported message version/],
    [{ ...valid, tenantId: "abc" }, /tenantId: expected a tenant GUID/],
    [{ ...valid, contentType: "Audit.All" }, /contentType/],
    [{ ...valid, contentId: "../../x" }, /contentId/],
    [{ ...valid, contentCreated: "yesterday" }, /contentCreated: expected an ISO 8601 date-time/],
    [{ ...valid, contentUri: "https://evil.example/x" }, /contentUri: untrusted URL: host evil.example/],
    [{ ...valid, tenantId: "22222222-2222-4222-8222-222222222222" }, /contentUri: untrusted URL: path is not under the feed of tenant 22222222/],
    [{ ...valid, contentUri: undefined }, /contentUri/],
  ])("rejects %j with a reason that names the problem", (payload, reason) => {
    const parsed = parseContentMessage(payload, API);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });
});
