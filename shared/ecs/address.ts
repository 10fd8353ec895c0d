import { isIP } from "node:net";

/**
 * Client and server addresses in audit records come in many forms: `1.2.3.4`, `1.2.3.4:5678`,
 * `[2001:db8::1]:443`, `::ffff:1.2.3.4`, `host (1.2.3.4)`, `[host (ip)]`, host names, garbage.
 * The forms are tried in the order Elastic's pipeline tries them, first match wins; `ip` is set
 * only when the address really is one.
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
  if (parsed.address !== undefined && isIP(parsed.address) !== 0) parsed.ip = parsed.address;
  return parsed;
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
