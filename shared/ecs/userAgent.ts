import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parse as parseYaml } from "yaml";
import { memoize } from "./doc.js";

/**
 * user_agent.* as Elastic's user_agent processor writes it, from the ua-parser project's own
 * regexes (uap-core). Operating system and device come from the project's reference
 * implementation; the agent itself is matched here, because Elastic's version has a fourth,
 * build part (`Chrome/120.0.0.0` → `120.0.0.0`) that the reference implementation drops.
 * Compiled on first use (about a thousand regexes), and results cached: the same few user
 * agents repeat across millions of records.
 */
interface UapPart {
  family: string;
  major: string | null;
  minor: string | null;
  patch: string | null;
  build?: string | null;
}

interface UapResult {
  os: UapPart;
  device: { family: string };
}

interface AgentRule {
  regex: string;
  regex_flag?: string;
  family_replacement?: string;
  v1_replacement?: string;
  v2_replacement?: string;
  v3_replacement?: string;
  v4_replacement?: string;
}

interface Parsers {
  osAndDevice: { parse(userAgent: string): UapResult };
  agents: { pattern: RegExp; rule: AgentRule }[];
}

let parsers: Parsers | undefined;

function load(): Parsers {
  const require = createRequire(import.meta.url);
  const regexes = parseYaml(readFileSync(require.resolve("uap-core/regexes.yaml"), "utf8")) as { user_agent_parsers: AgentRule[] };
  const makeParser = require("uap-ref-impl") as (regexes: unknown) => Parsers["osAndDevice"];
  return {
    osAndDevice: makeParser({ ...regexes, user_agent_parsers: [] }),
    agents: regexes.user_agent_parsers.map((rule) => ({ pattern: new RegExp(rule.regex, rule.regex_flag ?? ""), rule })),
  };
}

/** The first rule that matches, as Elastic applies it: replacements first, else capture groups 1–5. */
function parseAgent(agents: Parsers["agents"], original: string): UapPart {
  for (const { pattern, rule } of agents) {
    const m = pattern.exec(original);
    if (!m) continue;
    const group = (i: number) => m[i] ?? null;
    return {
      family: rule.family_replacement ? rule.family_replacement.replace("$1", m[1] ?? "") : (m[1] ?? "Other"),
      major: rule.v1_replacement ?? group(2),
      minor: rule.v2_replacement ?? group(3),
      patch: rule.v3_replacement ?? group(4),
      build: rule.v4_replacement ?? group(5),
    };
  }
  return { family: "Other", major: null, minor: null, patch: null };
}

/** major[.minor[.patch[.build]]]: each part only when the one before it is there. */
function version(part: UapPart): string | undefined {
  if (!part.major) return undefined;
  let text = part.major;
  for (const next of [part.minor, part.patch, part.build]) {
    if (next === null || next === undefined) break;
    text += `.${next}`;
  }
  return text;
}

/** Shared by every document with this agent: frozen, so no caller can change the others. */
export const parseUserAgent = memoize(10_000, (original): Record<string, unknown> => {
  parsers ??= load();
  const ua = parseAgent(parsers.agents, original);
  const { os, device } = parsers.osAndDevice.parse(original);
  const osVersion = version(os);
  const uaVersion = version(ua);
  return {
    original,
    name: ua.family,
    ...(uaVersion ? { version: uaVersion } : {}),
    os: { name: os.family, ...(osVersion ? { version: osVersion, full: `${os.family} ${osVersion}` } : { full: os.family }) },
    device: { name: device.family },
  };
});
