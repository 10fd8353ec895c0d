import { describe, expect, it } from "vitest";
import { parseUserAgent } from "../../shared/ecs/userAgent.js";

// Expected values follow Elasticsearch's user_agent processor (UserAgentParser.java,
// UserAgentProcessor.java) over uap-core 0.10.0; the agents are ordinary public ones.
const FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:109.0) Gecko/20100101 Firefox/115.0";
const CHROME_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

describe("parseUserAgent, as Elasticsearch's user_agent processor", () => {
  it.each([
    // The Firefox rule's optional group matches nothing: "" is not null, so it is appended.
    [FIREFOX_MAC, { name: "Firefox", version: "115.0.", os: { name: "Mac OS X", version: "10.15", full: "Mac OS X 10.15" }, device: { name: "Mac" } }],
    // A fourth, build part.
    [CHROME_WINDOWS, { name: "Chrome", version: "120.0.0.0", os: { name: "Windows", version: "10", full: "Windows 10" }, device: { name: "Other" } }],
    [
      "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)",
      { name: "Outlook", version: "2016", os: { name: "Windows", version: "10", full: "Windows 10" }, device: { name: "Other" } },
    ],
    [
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
      { name: "Mobile Safari", version: "17.2", os: { name: "iOS", version: "17.2", full: "iOS 17.2" }, device: { name: "iPhone" } },
    ],
    // No OS rule matches: no os object at all, not an "Other" one.
    ["python-requests/2.31.0", { name: "Python Requests", version: "2.31", device: { name: "Other" } }],
    ["curl/8.4.0", { name: "curl", version: "8.4.0", device: { name: "Other" } }],
    // An OS rule without a version: name only, neither version nor full.
    ["Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", { name: "Firefox", version: "121.0.", os: { name: "Linux" }, device: { name: "Other" } }],
    // Nothing matches: name and device "Other", no version.
    ["", { name: "Other", device: { name: "Other" } }],
    ["OneDriveMpc-Transform_Thumbnail/1.0", { name: "Other", device: { name: "Other" } }],
    // The Java rule's groups: the same empty-part artefact (elastic/elasticsearch PR #108906 shows it).
    ["Java/17.0.11", { name: "Java", version: "0.11.", device: { name: "Spider" } }],
    // Version replacements are used literally; only the name's `$1` is substituted.
    ["Mozilla/4.0 (compatible; MSIE 5.0; Windows 98)", { name: "IE", version: "5.0", os: { name: "Windows", version: "$1", full: "Windows $1" }, device: { name: "Other" } }],
  ])("parses %j", (original, expected) => {
    expect(parseUserAgent(original)).toEqual({ original, ...expected });
  });

  it("matches with Java's regex dialect, which Elasticsearch compiles the rules in", () => {
    // Java's `$` also matches before a final line terminator (rule 'ESPN APP$').
    expect(parseUserAgent("ESPN APP\n")).toMatchObject({ name: "ESPN" });
    // Java's \s is ASCII whitespace only: a no-break space does not separate 'baidubrowser' from its version.
    expect(parseUserAgent("baidubrowser\u00a05.1")).toEqual({ original: "baidubrowser\u00a05.1", name: "Other", device: { name: "Other" } });
    expect(parseUserAgent("baidubrowser 5.1")).toMatchObject({ name: "Baidu Browser", version: "5.1" });
  });

  it("returns one frozen result per agent, shared by every caller", () => {
    const first = parseUserAgent(CHROME_WINDOWS);
    expect(parseUserAgent(CHROME_WINDOWS)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.os)).toBe(true);
  });
});
