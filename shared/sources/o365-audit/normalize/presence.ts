import type { Doc } from "../../../ecs/doc.js";

/**
 * Which of the raw fields the mapping tables look for a record has, found in one pass over its keys.
 *
 * The tables probe every record for some fifty fields (hashes, file paths, mail fields, dates, JSON
 * text…), and a record carries a handful of them. Reading a property a record lacks is slow in V8
 * when records come in hundreds of shapes (each miss is a megamorphic lookup): measured, the probes
 * were the normalizer's largest single cost. So each probe names the raw top-level field it depends
 * on, that field gets a bit, a record's mask has the bits of the fields it has, and a probe whose bit
 * is clear is skipped. A bit may stand for several fields (there are more fields than bits): a shared
 * bit only lets a probe run that finds nothing, it never skips one that would find something.
 */
const BITS = new Map<string, number>();

/** A probe whose source is not a raw field (one the mapping itself sets): always runs. */
export const ALWAYS = -1;

/** The bit of the raw top-level field a path of the record starts with (`Data`, `ExtendedProperties.UserAgent`), given on first request; tables ask while they load. */
export function bitOf(path: string): number {
  const dot = path.indexOf(".");
  const field = dot < 0 ? path : path.slice(0, dot);
  let bit = BITS.get(field);
  if (bit === undefined) {
    bit = 1 << (BITS.size % 31);
    BITS.set(field, bit);
  }
  return bit;
}

/** The bit a document path depends on: `o365.audit.X…` (what is left of the record) is the raw field X's, any other path always runs. */
export function bitOfDocumentPath(path: string): number {
  const prefix = "o365.audit.";
  return path.startsWith(prefix) ? bitOf(path.slice(prefix.length)) : ALWAYS;
}

/** The bits of the fields `record` has (own enumerable keys: parsed JSON has no other). */
export function presenceOf(record: Doc): number {
  let mask = 0;
  for (const key in record) {
    const bit = BITS.get(key);
    if (bit !== undefined) mask |= bit;
  }
  return mask;
}
