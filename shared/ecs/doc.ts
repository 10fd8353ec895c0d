/**
 * A document under construction: nested plain objects addressed by dotted paths, with the few
 * operations the mapping tables need (set, get, append, move out of the raw record).
 */
export type Doc = Record<string, unknown>;

export function isMap(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * A dotted path, or one already split: tables split theirs once at load, and literal paths are
 * split on first use and remembered (they are a few dozen constants), never once per record.
 */
export type Path = string | readonly string[];

const SEGMENTS = new Map<string, readonly string[]>();
function segments(path: Path): readonly string[] {
  if (typeof path !== "string") return path;
  let keys = SEGMENTS.get(path);
  if (!keys) {
    keys = path.split(".");
    SEGMENTS.set(path, keys);
  }
  return keys;
}

export function getPath(doc: Doc, path: Path): unknown {
  const keys = segments(path);
  let node: unknown = doc;
  for (let i = 0; i < keys.length; i += 1) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Doc)[keys[i] as string];
  }
  return node;
}

export function setPath(doc: Doc, path: Path, value: unknown): void {
  const keys = segments(path);
  let node = doc;
  for (let i = 0; i < keys.length - 1; i += 1) {
    const key = keys[i] as string;
    const next = node[key];
    if (!isMap(next)) node[key] = {};
    node = node[key] as Doc;
  }
  node[keys[keys.length - 1] as string] = value;
}

/**
 * Clears a field of a working copy. The value becomes undefined rather than being deleted: JSON
 * leaves it out just the same, and V8 keeps the object in its fast shape. Nested objects on the
 * way are copied first, so the caller's input is never changed.
 */
export function clearPath(doc: Doc, path: Path): void {
  const keys = segments(path);
  let parent: Doc = doc;
  for (let i = 0; i < keys.length - 1; i += 1) {
    const key = keys[i] as string;
    const child = parent[key];
    if (!isMap(child)) return;
    const copy = { ...child };
    parent[key] = copy;
    parent = copy;
  }
  const last = keys[keys.length - 1] as string;
  if (parent[last] !== undefined) parent[last] = undefined;
}

/** Appends to an array field (creating it), optionally skipping a value already there. */
export function appendPath(doc: Doc, path: Path, value: unknown, allowDuplicates = true): void {
  const current = getPath(doc, path);
  if (Array.isArray(current)) {
    // Extended in place: the document's own list, so there is nothing to set again.
    if (allowDuplicates || !current.includes(value)) current.push(value);
    return;
  }
  setPath(doc, path, current === undefined ? [value] : allowDuplicates || current !== value ? [current, value] : [current]);
}

/**
 * Appends to `related.<kind>` (user, ip, hosts, hash), once per value unless duplicates are asked for:
 * the same as appendPath on that path, with direct property access, as every document has a few.
 */
export function appendRelated(doc: Doc, kind: "user" | "ip" | "hosts" | "hash", value: unknown, allowDuplicates = false): void {
  let related = doc.related;
  if (!isMap(related)) {
    related = {};
    doc.related = related;
  }
  const list = (related as Doc)[kind];
  if (Array.isArray(list)) {
    if (allowDuplicates || !list.includes(value)) list.push(value);
  } else if (list === undefined) {
    (related as Doc)[kind] = [value];
  } else {
    (related as Doc)[kind] = allowDuplicates || list !== value ? [list, value] : [list];
  }
}

/** Moves a field out of `from` into `to` (Elastic's rename with ignore_missing); returns whether it moved. */
export function moveField(from: Doc, fromPath: Path, to: Doc, toPath: Path): boolean {
  const value = getPath(from, fromPath);
  if (value === undefined || value === null) return false;
  clearPath(from, fromPath);
  setPath(to, toPath, value);
  return true;
}

/** A scalar as Elastic's convert-to-string renders it. */
export function asString(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

/** Sets a key from the data itself (a property name in a record) without letting `__proto__` change the prototype. */
export function defineKey(map: Doc, key: string, value: unknown): void {
  // Plain assignment keeps the object in V8's fast shape; only `__proto__` needs defining.
  if (key === "__proto__") Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
  else map[key] = value;
}

/** Freezes a value and everything in it: for results cached and shared by many documents, which are serialized, never changed. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * A function's results remembered per key and shared, frozen, by every document that asks: for
 * enrichment whose inputs (user agents, addresses, hosts) recur across millions of records. The
 * memory is bounded: past `limit` keys it starts again.
 */
export function memoize<V>(limit: number, compute: (key: string) => V): (key: string) => V {
  // Values are held directly, not wrapped: a lookup is one hash-table probe, and only a remembered
  // `undefined` (rare: input that parses to nothing) takes the second probe that tells it from a key not seen yet.
  const results = new Map<string, V>();
  return (key) => {
    const found = results.get(key);
    if (found !== undefined || results.has(key)) return found as V;
    const value = deepFreeze(compute(key));
    if (results.size >= limit) results.clear();
    results.set(key, value);
    return value;
  };
}
