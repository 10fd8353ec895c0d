import type { StreamRef } from "../sources/source.js";
import type { CursorStore } from "../state/cursors.js";
import type { WorkLedger } from "../state/ledger.js";

/**
 * What an operator asks first: per feed, tenant and stream, how far collection has got (cursor and
 * lag), what is waiting (backlog), what was lost or broken (expired, failed), what gave up and waits
 * in the poison queue for a re-drive (poisoned), and the last listing error.
 */
export interface StreamStatus {
  source: string;
  tenantId: string;
  stream: string;
  cursor: string | null;
  lagSeconds: number | null;
  lastListedAt: string | null;
  lastError: string | null;
  backlog: number;
  failed: number;
  expired: number;
  poisoned: number;
}

export interface Status {
  generatedAt: string;
  streams: StreamStatus[];
  totals: { backlog: number; failed: number; expired: number; poisoned: number; streamsWithErrors: number; maxLagSeconds: number | null };
}

export interface StatusDeps {
  /** The streams of the enabled feeds: each shows, even before its first listing. */
  configured: (StreamRef & { source: string })[];
  cursors: CursorStore;
  ledger: WorkLedger;
  now: () => number;
}

export async function collectStatus(deps: StatusDeps): Promise<Status> {
  const now = deps.now();
  const streams = new Map<string, StreamStatus>();
  const sourceOf = new Map(deps.configured.map((s) => [`${s.tenantId}|${s.stream}`, s.source]));
  // Streams are unique across feeds, so (tenant, stream) finds the row; rows written before the feed was named say "unknown".
  const stream = (tenantId: string, name: string, source?: string) => {
    const key = `${tenantId}|${name}`;
    let found = streams.get(key);
    if (!found) {
      found = { source: source ?? sourceOf.get(key) ?? "unknown", tenantId, stream: name, cursor: null, lagSeconds: null, lastListedAt: null, lastError: null, backlog: 0, failed: 0, expired: 0, poisoned: 0 };
      streams.set(key, found);
    }
    return found;
  };
  for (const { source, tenantId, stream: name } of deps.configured) stream(tenantId, name, source);
  for await (const cursor of deps.cursors.all()) {
    const s = stream(cursor.tenantId, cursor.stream, cursor.source);
    s.cursor = cursor.cursorMs !== undefined ? new Date(cursor.cursorMs).toISOString() : null;
    s.lagSeconds = cursor.cursorMs !== undefined ? Math.max(0, Math.round((now - cursor.cursorMs) / 1000)) : null;
    s.lastListedAt = cursor.lastListedAt !== undefined ? new Date(cursor.lastListedAt).toISOString() : null;
    s.lastError = cursor.lastError ?? null;
  }
  // Only rows that are not done: the backlog and the losses, never a scan of everything collected.
  for await (const entry of deps.ledger.entries("state ne 'done'")) {
    const s = stream(entry.tenantId, entry.stream, entry.source);
    if (entry.state === "queued") s.backlog += 1;
    if (entry.state === "failed") s.failed += 1;
    if (entry.state === "expired") s.expired += 1;
    if (entry.state === "poisoned") s.poisoned += 1;
  }
  const list = [...streams.values()].sort((a, b) => a.source.localeCompare(b.source) || a.tenantId.localeCompare(b.tenantId) || a.stream.localeCompare(b.stream));
  const lags = list.flatMap((s) => (s.lagSeconds === null ? [] : [s.lagSeconds]));
  return {
    generatedAt: new Date(now).toISOString(),
    streams: list,
    totals: {
      backlog: list.reduce((n, s) => n + s.backlog, 0),
      failed: list.reduce((n, s) => n + s.failed, 0),
      expired: list.reduce((n, s) => n + s.expired, 0),
      poisoned: list.reduce((n, s) => n + s.poisoned, 0),
      streamsWithErrors: list.filter((s) => s.lastError).length,
      maxLagSeconds: lags.length > 0 ? Math.max(...lags) : null,
    },
  };
}
