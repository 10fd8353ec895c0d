import { isDeepStrictEqual } from "node:util";
import { type GeoLookup, openGeoIp } from "../../shared/ecs/geoip.js";

/**
 * The field-by-field comparison every conformance section uses: documents as leaf paths (arrays are
 * whole values, an empty object is a leaf), each expected leaf equal or not, each leaf of ours that
 * is not expected counted as extra, and every difference written as one line.
 */
export type Leaves = Map<string, unknown>;

export function leaves(value: unknown, path = "", out: Leaves = new Map()): Leaves {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) leaves(child, path ? `${path}.${key}` : key, out);
    if (Object.keys(value).length === 0 && path) out.set(path, {});
  } else {
    out.set(path, value);
  }
  return out;
}

export interface Comparison {
  expectedFields: number;
  equalFields: number;
  extraFields: number;
  diff: string[];
}

/** Adds one document's comparison to `result`; `label` names the document in the diff lines. */
export function compareLeaves(want: Leaves, got: Leaves, label: string, result: Comparison): void {
  for (const [path, value] of want) {
    result.expectedFields += 1;
    if (isDeepStrictEqual(got.get(path), value)) result.equalFields += 1;
    else result.diff.push(`${label} ${path}: expected ${JSON.stringify(value)}, got ${got.has(path) ? JSON.stringify(got.get(path)) : "(missing)"}`);
  }
  for (const [path, value] of got) {
    if (!want.has(path)) {
      result.extraFields += 1;
      result.diff.push(`${label} ${path}: not expected, got ${JSON.stringify(value)}`);
    }
  }
}

export const percent = (part: number, whole: number): string => (whole === 0 ? "100.0" : ((100 * part) / whole).toFixed(1));

/** Enrichment as Elastic's tests run it: MaxMind's test databases (copied under test/fixtures). */
export async function testGeoIp(): Promise<{ geoip?: GeoLookup }> {
  const geoip = await openGeoIp({
    city: new URL("../fixtures/geoip/GeoLite2-City-Test.mmdb", import.meta.url).pathname,
    asn: new URL("../fixtures/geoip/GeoLite2-ASN-Test.mmdb", import.meta.url).pathname,
  });
  return geoip ? { geoip } : {};
}
