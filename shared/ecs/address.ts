import { isIP } from "node:net";
import { memoize } from "./doc.js";

/**
 * Client and server addresses in audit records come in many forms: `1.2.3.4`, `1.2.3.4:5678`,
 * `[2001:db8::1]:443`, `::ffff:1.2.3.4`, `host (1.2.3.4)`, `[host (ip)]`, host names, garbage.
 * The forms are tried in the order Elastic's pipeline tries them (the grok patterns of
 * elastic/integrations packages/o365/data_stream/audit/elasticsearch/ingest_pipeline/default.yml),
 * first match wins. `address` is the text as that pipeline writes it; `ip` is set only when the
 * address really is one, in its canonical form (canonicalIp).
 */
export interface ParsedAddress {
  address?: string;
  domain?: string;
  ip?: string;
  port?: number;
}

type Form = { pattern: RegExp; fields: ("address" | "domain" | "port")[]; ipAt?: number };

const CLIENT_FORMS: readonly Form[] = [
  { pattern: /^\[([^\]]+)\]:([1-9]\d*)\b/, fields: ["address", "port"], ipAt: 1 },
  { pattern: /^(.+)$/s, fields: ["address"], ipAt: 1 },
  { pattern: /^\[([^\]]+)\]$/, fields: ["address"], ipAt: 1 },
  { pattern: /^((?:\d{1,3}\.){3}\d{1,3}):([1-9]\d*)\b/, fields: ["address", "port"], ipAt: 1 },
  { pattern: /^(\S+)$/, fields: ["domain"] },
  { pattern: /^\[(\S+)\]:([1-9]\d*)\b/, fields: ["domain", "port"] },
  { pattern: /^(\S+):([1-9]\d*)\b/, fields: ["domain", "port"] },
  { pattern: /^\[(\S+) \(([^)]*)\)\]$/, fields: ["domain", "address"] },
  { pattern: /^(\S+) \(([^)]*)\)$/, fields: ["domain", "address"] },
];

const SERVER_FORMS: readonly Form[] = [
  { pattern: /^\[(\S+) \(([^)]*)\)\]$/, fields: ["domain", "address"] },
  { pattern: /(\S+) \(([^)]*)\)/, fields: ["domain", "address"] },
];

function match(text: string, forms: readonly Form[]): ParsedAddress {
  for (const form of forms) {
    const found = form.pattern.exec(text);
    if (!found || (form.ipAt !== undefined && isIP(found[form.ipAt] as string) === 0)) continue;
    const parsed: ParsedAddress = {};
    form.fields.forEach((field, i) => {
      const value = found[i + 1] as string;
      if (field === "port") parsed.port = Number(value);
      else parsed[field] = value;
    });
    return parsed;
  }
  return { address: text };
}

function withIp(parsed: ParsedAddress): ParsedAddress {
  // Not through canonicalIp's cache: the normalizer caches these parsers' results per raw address.
  const ip = parsed.address === undefined ? undefined : canonicalForm(parsed.address);
  if (ip !== undefined) parsed.ip = ip;
  return parsed;
}

/**
 * An IP in the form *.ip and related.ip are written in, or undefined for anything that is not one
 * (Elastic's `convert type: ip` refuses it: ConvertProcessor.java, InetAddresses.forString).
 * IPv4 as given. IPv6 in RFC 5952's text form: lower-case hex without leading zeros, the longest
 * run of two or more zero groups (the first of equals) as "::", a zone ("%eth0") kept as written.
 * An IPv4-mapped address (::ffff:0:0/96, however spelled) is the IPv4 address it maps, as
 * Elastic's `::ffff:` gsub makes the common spelling and as Elasticsearch's ip type stores it.
 * Values repeat (a tenant's offices, its mail servers): each is worked out once.
 */
export function canonicalIp(text: unknown): string | undefined {
  return typeof text === "string" ? canonical(text) : undefined;
}

function canonicalForm(text: string): string | undefined {
  const version = isIP(text);
  if (version !== 6) return version === 4 ? text : undefined;
  const percent = text.indexOf("%");
  const groups = ipv6Groups(percent < 0 ? text : text.slice(0, percent));
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [high, low] = [groups[6] as number, groups[7] as number];
    return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  }
  let run = { start: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > run.length) run = { start: i, length: end - i };
    i = Math.max(end, i + 1);
  }
  const hex = (from: number, to: number) => groups.slice(from, to).map((group) => group.toString(16)).join(":");
  const address = run.start < 0 ? hex(0, 8) : `${hex(0, run.start)}::${hex(run.start + run.length, 8)}`;
  return percent < 0 ? address : address + text.slice(percent);
}

const canonical = memoize(10_000, canonicalForm);

/** The eight 16-bit groups of an IPv6 address Node's isIP accepted (a trailing dotted IPv4 is two of them). */
function ipv6Groups(address: string): number[] {
  const gap = address.indexOf("::");
  const part = (text: string): number[] =>
    text === ""
      ? []
      : text.split(":").flatMap((group) => {
          if (!group.includes(".")) return [Number.parseInt(group, 16)];
          const [a, b, c, d] = group.split(".").map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const head = part(gap < 0 ? address : address.slice(0, gap));
  const tail = gap < 0 ? [] : part(address.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

export function parseClientAddress(raw: unknown): ParsedAddress | undefined {
  if (typeof raw !== "string" || raw === "") return undefined;
  const text = raw.includes("::ffff:") ? raw.replace(/::ffff:(\d+\.\d+\.\d+\.\d+)/g, "$1") : raw;
  const parsed = withIp(match(text, CLIENT_FORMS));
  if (parsed.port !== undefined && (parsed.port > 65535 || !Number.isSafeInteger(parsed.port))) delete parsed.port;
  return parsed;
}

export function parseServerAddress(raw: unknown): ParsedAddress | undefined {
  if (typeof raw !== "string") return undefined;
  const text = raw.replace(/[\n\r]/g, "");
  return text === "" ? undefined : withIp(match(text, SERVER_FORMS));
}

/** `user@example.com` → name, domain and email, when there is exactly one `@`. */
export function splitEmail(id: unknown): { name: string; domain: string; email: string } | undefined {
  if (typeof id !== "string") return undefined;
  const at = id.indexOf("@");
  if (at < 0 || id.indexOf("@", at + 1) >= 0) return undefined;
  return { name: id.slice(0, at), domain: id.slice(at + 1), email: id };
}
