import type { Offline, OfflineMapper } from "../source.js";
import { type MessageTraceContext, messageTracePipelineError, messageTraceRows, normalizeMessageTraceToLine } from "./normalize.js";

/**
 * `audit-intake normalize --source message-trace`: Exchange Online message-trace rows, Graph's or the
 * Reporting Web Service's, as rows or as saved pages, which are unwrapped.
 */
export const messageTraceOffline: Offline<{ "local-domains": readonly string[] }> = {
  input: "Exchange Online message-trace rows (Graph or Reporting Web Service, saved pages unwrapped)",
  options: {
    "local-domains": { argument: "<domains>", description: "the organization's mail domains, comma-separated, for email.direction and user.*", parse: parseDomains },
  },
  mapper: (values, context) => messageTraceMapper({ ...context, localDomains: values["local-domains"] ?? [] }),
};

/** The mapping of message-trace rows; each value read may be a page (`{"d":{"results":[…]}}`, `{"value":[…]}`). */
export function messageTraceMapper(context: MessageTraceContext): OfflineMapper {
  return {
    records: messageTraceRows,
    line: (row) => normalizeMessageTraceToLine(row, context).line,
    pipelineError: (text, message) => messageTracePipelineError(text, message, context),
  };
}

function parseDomains(text: string): string[] {
  const domains = text.split(",").map((domain) => domain.trim()).filter(Boolean);
  if (domains.length === 0) throw new Error(`expected comma-separated domains, got "${text}"`);
  return domains;
}
