import { pipelineErrorDocument, withDataStream } from "../../ecs/document.js";
import { O365_AUDIT_DATASET } from "./dataset.js";
import type { Offline, OfflineMapper } from "../source.js";
import { type NormalizeContext, normalizeToLine } from "./normalize/normalize.js";

/**
 * `audit-intake normalize --source o365-audit`: Management Activity API records as the API serves them
 * (a content blob is a JSON array of records), each value read one record.
 */
export const o365AuditOffline: Offline<{ "tenant-names": ReadonlyMap<string, string> }> = {
  input: "Management Activity API records",
  // The name `normalize` knew this feed by when it read no other.
  aliases: ["audit"],
  options: {
    "tenant-names": { argument: "<pairs>", description: "tenantId=domain pairs for organization.name / host.name", parse: parsePairs },
  },
  mapper: (values, context) => auditMapper({ ...context, tenantNames: values["tenant-names"] ?? new Map<string, string>() }),
};

/** The mapping of audit records, stamped with the feed's data stream (namespace `default`) as the other feeds' are. */
export function auditMapper(context: NormalizeContext): OfflineMapper {
  const finish = withDataStream(O365_AUDIT_DATASET, "default");
  return {
    line: (record) => normalizeToLine(record, context, finish).line,
    pipelineError: (text, message) => finish(pipelineErrorDocument(text, message, context)),
  };
}

function parsePairs(text: string): Map<string, string> {
  const pairs = new Map<string, string>();
  for (const pair of text.split(",").filter(Boolean)) {
    const [id, domain] = pair.split("=");
    if (!id || !domain) throw new Error(`expected tenantId=domain pairs, got "${pair}"`);
    pairs.set(id.trim().toLowerCase(), domain.trim());
  }
  return pairs;
}
