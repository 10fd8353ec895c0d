import { isIP } from "node:net";

/**
 * Client addresses in audit records come in many forms: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443`,
 * `::ffff:1.2.3.4`, `host (1.2.3.4)`, or garbage. The raw text is always kept; ip and port only when sure.
 */
export interface ParsedAddress {
  address: string;
  ip?: string;
  port?: number;
}

export function parseAddress(raw: unknown): ParsedAddress | undefined {
  if (typeof raw !== "string") return undefined;
  const address = raw.trim();
  if (address === "") return undefined;
  const found = splitHostPort(address);
  if (!found) return { address };
  const ip = unmapV4(found.host);
  return isIP(ip) ? { address, ip, ...(found.port !== undefined ? { port: found.port } : {}) } : { address };
}

function splitHostPort(text: string): { host: string; port?: number } | undefined {
  const paren = /\(([^()]+)\)\s*$/.exec(text); // "SERVER1 (10.0.0.1)"
  if (paren) return splitHostPort((paren[1] as string).trim());
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) return withPort(bracketed[1] as string, bracketed[2]);
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text);
  if (v4port) return withPort(v4port[1] as string, v4port[2]);
  return { host: text };
}

function withPort(host: string, port: string | undefined): { host: string; port?: number } {
  const n = port === undefined ? undefined : Number(port);
  return n !== undefined && n > 0 && n < 65536 ? { host, port: n } : { host };
}

function unmapV4(host: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(host);
  return mapped ? (mapped[1] as string) : host;
}
