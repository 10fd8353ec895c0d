import { describe, expect, it } from "vitest";
import { failedWorkPath, safeSegment, workOutputPath } from "../../shared/sinks/layout.js";
import { parseDuration } from "../../shared/config/duration.js";

describe("output layout", () => {
  it("names output deterministically by dataset, tenant, stream and the work's hour", () => {
    const ref = { dataset: "o365.audit", tenantId: "t1", stream: "Audit.Exchange", workId: "2015$a$audit_exchange$Audit_Exchange$na01", created: "2026-02-03T04:59:59.999Z" };
    const path = workOutputPath(ref);
    expect(path).toBe("o365.audit/t1/Audit.Exchange/2026/02/03/04/2015+a+audit_exchange+Audit_Exchange+na01.ndjson.gz");
    expect(workOutputPath({ ...ref })).toBe(path);
    expect(workOutputPath({ dataset: "microsoft_exchange_online_message_trace.log", tenantId: "t1", stream: "MessageTrace", workId: "20260203T040000Z-20260203T050000Z", created: "2026-02-03T04:00:00Z" })).toBe(
      "microsoft_exchange_online_message_trace.log/t1/MessageTrace/2026/02/03/04/20260203T040000Z-20260203T050000Z.ndjson.gz",
    );
  });

  it("escapes anything that could leave its folder", () => {
    expect(safeSegment("../x/y")).toBe("%2e%2e%2fx%2fy");
    expect(safeSegment("a b?c")).toBe("a%20b%3fc");
    expect(failedWorkPath({ dataset: "o365.audit", tenantId: "t", stream: "DLP.All", workId: ".." })).toBe("failed/o365.audit/t/DLP.All/%2e%2e.json");
  });

  it("writes names a shell takes without quoting, one name per id", () => {
    const names = ["a$b", "a+b", "a%24b", "a_b"].map(safeSegment);
    expect(names).toEqual(["a+b", "a%2bb", "a%2524b", "a_b"]);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[A-Za-z0-9._=+%-]+$/);
  });
});

describe("durations", () => {
  it.each([
    ["90s", 90_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["6d23h55m", 7 * 86_400_000 - 300_000],
    ["500ms", 500],
    ["1.5h", 5_400_000],
  ])("parses %s", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "1 hour", "5", "h", "1h junk", "-1h"])("refuses %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
