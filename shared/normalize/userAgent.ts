import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parse as parseYaml } from "yaml";

/**
 * user_agent.* as Elastic's user_agent processor writes it, from the ua-parser project's own
 * regexes (uap-core) and reference implementation. Compiled on first use (about a thousand
 * regexes), and results cached: the same few user agents repeat across millions of records.
 */
interface UapPart {
  family: string;
  major: string | null;
  minor: string | null;
  patch: string | null;
}

interface UapResult {
  ua: UapPart;
  os: UapPart;
  device: { family: string };
}

type Parser = { parse(userAgent: string): UapResult };

const CACHE_LIMIT = 10_000;
let parser: Parser | undefined;
const cache = new Map<string, Record<string, unknown>>();

function load(): Parser {
  const require = createRequire(import.meta.url);
  const regexes = parseYaml(readFileSync(require.resolve("uap-core/regexes.yaml"), "utf8")) as unknown;
  const makeParser = require("uap-ref-impl") as (regexes: unknown) => Parser;
  return makeParser(regexes);
}

function version(part: UapPart): string | undefined {
  if (!part.major) return undefined;
  return [part.major, part.minor, part.patch].filter((p): p is string => p !== null && p !== undefined).join(".");
}

export function parseUserAgent(original: string): Record<string, unknown> {
  const cached = cache.get(original);
  if (cached) return cached;
  parser ??= load();
  const { ua, os, device } = parser.parse(original);
  const osVersion = version(os);
  const fields: Record<string, unknown> = {
    original,
    name: ua.family,
    ...(version(ua) ? { version: version(ua) } : {}),
    os: { name: os.family, ...(osVersion ? { version: osVersion, full: `${os.family} ${osVersion}` } : { full: os.family }) },
    device: { name: device.family },
  };
  if (cache.size >= CACHE_LIMIT) cache.clear();
  // Shared by every document with this agent: frozen, so no caller can change the others.
  cache.set(original, deepFreeze(fields));
  return fields;
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) if (child && typeof child === "object") deepFreeze(child);
  return Object.freeze(value);
}
