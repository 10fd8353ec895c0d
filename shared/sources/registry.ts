import { messageTraceSource } from "./message-trace/source.js";
import { o365AuditSource } from "./o365-audit/source.js";
import { sophosXdrSource } from "./sophos-xdr/source.js";
import type { Source } from "./source.js";

/**
 * The feeds this build knows, one line each. The pipeline reads only this list: a new feed is its
 * folder under shared/sources/ and its line here.
 */
/** A feed of any settings and item types: the pipeline treats both opaquely, and each feed checks its own. */
export type AnySource = Source<any, any>;

export const SOURCES: readonly AnySource[] = [o365AuditSource, messageTraceSource, sophosXdrSource];

export function sourceNamed(name: string): AnySource | undefined {
  return SOURCES.find((source) => source.name === name);
}
