import type { ClaimRequest } from "../state/claims.js";

/**
 * Records an item remembers having written, at least: a second copy within this many records of the
 * first is caught (an item of up to this many records, an audit blob of about 4.5 MB, whole). Two
 * generations of at most this many ids are held, 81 bytes an audit id (a GUID) and 258 a message-trace one
 * (`id|recipient|status`, built of three parts): under 3 MB however large the item. It costs nothing
 * measurable (`npm run bench`'s 250 MB blob, runs taken in turn: 39,432 and 43,063 records/s against
 * 39,359 and 42,340 without); remembering 50,000 cost 8–12% there (35,970 and 37,112 against 41,122 and
 * 41,852).
 */
export const ITEM_COPIES_WINDOW = 5_000;

/**
 * Tells, record by record in the order an item writes them, whether a claimed record is its first copy
 * within the item. A copy within one item is the item's own claim, so the claims store owns both copies
 * to the item (as it must, for a retry of the item to write its records again): only the item can tell
 * them apart. Same id and same claim hour make the same record, as they make the same claim.
 */
export function firstCopyFilter(window = ITEM_COPIES_WINDOW): (claim: ClaimRequest) => boolean {
  // By hour, then id: an item's records fall in a few hours, so each hour's text is held once.
  let current = new Map<string, Set<string>>();
  let previous = new Map<string, Set<string>>();
  let size = 0;
  return ({ recordId, hour }) => {
    if (current.get(hour)?.has(recordId) || previous.get(hour)?.has(recordId)) return false;
    if (size === window) {
      previous = current;
      current = new Map();
      size = 0;
    }
    let ids = current.get(hour);
    if (!ids) current.set(hour, (ids = new Set()));
    ids.add(recordId);
    size += 1;
    return true;
  };
}
