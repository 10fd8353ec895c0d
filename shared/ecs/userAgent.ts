import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parse as parseYaml } from "yaml";
import { memoize } from "./doc.js";

/**
 * user_agent.* as Elasticsearch's user_agent processor writes it (elastic/elasticsearch
 * modules/ingest-user-agent: UserAgentParser.java matches, UserAgentProcessor.java builds the
 * fields). The regexes are uap-core 0.10.0, pinned: Elasticsearch bundles its own snapshot of
 * uap-core (src/main/resources/regexes.yml, uap-core of July 2020) and 0.10.0 is the release that
 * answers as it does, e.g. Firefox `72.0.` where newer files say `72.0`.
 * Compiled on first use (about 1,100 regexes), and results cached: the same few user agents
 * repeat across millions of records.
 */

interface Rule {
  pattern: RegExp;
  /** The name replacement; its first `$1` is group 1 (UserAgentSubpattern.match). */
  name: string | undefined;
  /** v1..v4 replacements, taken literally: Elasticsearch substitutes no `$n` in them. */
  versions: readonly (string | undefined)[];
}

interface Versioned {
  name: string;
  major: string | null;
  minor: string | null;
  patch: string | null;
  build: string | null;
}

type RawRule = Record<string, string>;

let lists: { agents: Rule[]; os: Rule[]; devices: Rule[] } | undefined;

// Java's \s and its line terminators (java.util.regex.Pattern), which JavaScript's \s, `.` and `$`
// do not share: JavaScript's \s also takes Unicode spaces, its `.` takes U+0085, and its `$` (no m
// flag) will not match before a final line terminator as Java's does.
const JAVA_SPACE = " \\t\\n\\x0B\\f\\r";
const JAVA_LINE_END = "\\n\\r\\u0085\\u2028\\u2029";

/** A uap-core regex (written for Java, whose dialect Elasticsearch compiles) as a JavaScript RegExp source. */
function fromJava(regex: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < regex.length; i++) {
    const c = regex[i] as string;
    if (c === "\\") {
      const next = regex[++i] ?? "";
      if (next === "s") out += inClass ? JAVA_SPACE : `[${JAVA_SPACE}]`;
      else if (next === "S" && !inClass) out += `[^${JAVA_SPACE}]`;
      else if (next === "S" || next === "v" || next === "h") throw new Error(`unsupported Java escape \\${next} in ${regex}`);
      else out += c + next;
    } else if (inClass) {
      if (c === "[" || (c === "&" && regex[i + 1] === "&")) throw new Error(`unsupported Java class syntax in ${regex}`);
      if (c === "]") inClass = false;
      out += c;
    } else if (c === "[") {
      if (regex[i + 1] === "]" || regex.startsWith("^]", i + 1)) throw new Error(`unsupported Java class syntax in ${regex}`);
      inClass = true;
      out += c;
    } else if (c === ".") out += `[^${JAVA_LINE_END}]`;
    else if (c === "$") out += `(?=(?:\\r\\n|[${JAVA_LINE_END}])?$)`;
    else out += c;
  }
  return out;
}

function rules(list: RawRule[] | undefined, name: string, versions: readonly string[]): Rule[] {
  return (list ?? []).map((raw) => ({
    // Only flag in the file; Pattern.CASE_INSENSITIVE (UserAgentParser.compilePattern).
    pattern: new RegExp(fromJava(raw.regex as string), raw.regex_flag === "i" ? "i" : ""),
    name: raw[name],
    versions: versions.map((key) => raw[key]),
  }));
}

function load(): NonNullable<typeof lists> {
  const require = createRequire(import.meta.url);
  // Every scalar a string, as Elasticsearch's YAML reader hands them over (`7.0` stays "7.0").
  const file = parseYaml(readFileSync(require.resolve("uap-core/regexes.yaml"), "utf8"), { schema: "failsafe" }) as Record<string, RawRule[]>;
  return {
    agents: rules(file.user_agent_parsers, "family_replacement", ["v1_replacement", "v2_replacement", "v3_replacement", "v4_replacement"]),
    os: rules(file.os_parsers, "os_replacement", ["os_v1_replacement", "os_v2_replacement", "os_v3_replacement", "os_v4_replacement"]),
    devices: rules(file.device_parsers, "device_replacement", []),
  };
}

/**
 * UserAgentSubpattern.match: a group that did not take part is null, one that matched nothing is
 * "" (and still counts); a rule whose name comes out null does not match, and the next one is tried.
 */
function find(list: readonly Rule[], text: string): Versioned | undefined {
  for (const rule of list) {
    const m = rule.pattern.exec(text);
    if (m === null) continue;
    const group = (i: number): string | null => m[i] ?? null;
    const first = group(1);
    const name = rule.name === undefined ? first : first !== null && rule.name.includes("$1") ? rule.name.replace("$1", () => first) : rule.name;
    if (name === null) continue;
    const part = (i: number): string | null => rule.versions[i] ?? group(i + 2);
    return { name, major: part(0), minor: part(1), patch: part(2), build: part(3) };
  }
  return undefined;
}

/** major[.minor[.patch[.build]]], each part only while the one before it is non-null; none without a major. */
function version(found: Versioned): string | undefined {
  if (found.major === null) return undefined;
  let text = found.major;
  for (const next of [found.minor, found.patch, found.build]) {
    if (next === null) break;
    text += `.${next}`;
  }
  return text;
}

/** UserAgentProcessor's fields (extract_device_type off). Shared by every document with this agent: frozen, so no caller can change the others. */
export const parseUserAgent = memoize(10_000, (original): Record<string, unknown> => {
  lists ??= load();
  const agent = find(lists.agents, original);
  const os = find(lists.os, original);
  const device = find(lists.devices, original);
  const agentVersion = agent && version(agent);
  const osVersion = os && version(os);
  return {
    original,
    name: agent?.name ?? "Other",
    ...(agentVersion !== undefined ? { version: agentVersion } : {}),
    ...(os ? { os: { name: os.name, ...(osVersion !== undefined ? { version: osVersion, full: `${os.name} ${osVersion}` } : {}) } } : {}),
    device: { name: device?.name ?? "Other" },
  };
});
