import { once } from "node:events";
import type { Writable } from "node:stream";
import { splitJson } from "../pipeline/split.js";
import type { AnySource } from "../sources/registry.js";
import type { Offline, OfflineMapper } from "../sources/source.js";

/**
 * `audit-intake normalize`: a feed's exported records in (a JSON array, NDJSON, or JSON objects one after
 * another), one ECS document per record out, in the same order, mapped as the feed's `offline` says. A
 * value that is not valid JSON becomes the feed's pipeline_error document, which keeps its text and says
 * where it was. Streams both ways, so a file of any size fits in memory (a saved page is one JSON value,
 * held while it is read). Returns the lines written.
 */
export async function normalizeStream(input: AsyncIterable<Buffer | string>, output: Writable, mapper: OfflineMapper): Promise<number> {
  let count = 0;
  for await (const item of splitJson(input)) {
    const lines =
      item.kind === "value"
        ? (mapper.records?.(item.value) ?? [item.value]).map((record) => mapper.line(record))
        : [`${JSON.stringify(mapper.pipelineError(item.text, item.message))}\n`];
    for (const line of lines) {
      count += 1;
      if (!output.write(line)) await once(output, "drain");
    }
  }
  return count;
}

/** A feed `normalize` reads. */
export interface NormalizeFeed {
  name: string;
  offline: Offline;
}

/**
 * The feeds of the registry that `normalize` reads (those with an `offline` mapping), by each name
 * `--source` takes: their own and their aliases. Throws when two feeds claim one name or one option: the
 * command could not tell which feed is meant, so the build must not start.
 */
export function normalizeFeeds(sources: readonly Pick<AnySource, "name" | "offline">[]): Map<string, NormalizeFeed> {
  const byName = new Map<string, NormalizeFeed>();
  const optionOwners = new Map<string, string>();
  for (const { name, offline } of sources) {
    if (!offline) continue;
    const feed = { name, offline };
    for (const alias of [name, ...(offline.aliases ?? [])]) {
      const other = byName.get(alias);
      if (other) throw new Error(`normalize: feeds ${other.name} and ${name} are both named ${alias}`);
      byName.set(alias, feed);
    }
    for (const option of Object.keys(offline.options)) {
      const other = optionOwners.get(option);
      if (other !== undefined) throw new Error(`normalize: feeds ${other} and ${name} both declare --${option}`);
      optionOwners.set(option, name);
    }
  }
  return byName;
}
