import type { QueueClient } from "@azure/storage-queue";
import type { LedgerKeys, WorkLedger } from "../state/ledger.js";
import { statusOf } from "../state/storage.js";
import type { Logger } from "../util/log.js";
import { type ItemCheck, parseWorkMessage, type WorkMessage } from "./message.js";
import { decodeMessage } from "./workQueue.js";

/**
 * The poison queue's two ends. On the way in, the Functions host moves a message that failed
 * maxDequeueCount times to `<queue>-poison` on its own, so the worker marks the ledger row while it
 * still can: on the failure it knows is the last. On the way out, `redrive` puts such messages back
 * once their cause is fixed.
 */

/**
 * Called when processing a message threw. On its last allowed dequeue the message is about to go to
 * the poison queue: its row says `poisoned` with the error, so /api/status counts it. Without the
 * trigger's dequeue count nothing is marked. Marking is best effort: the caller rethrows
 * the processing error either way, and a row left `queued` is what happened before this existed.
 */
export async function markIfLastAttempt(
  message: WorkMessage,
  error: unknown,
  attempt: { dequeueCount: number | undefined; maxDequeueCount: number },
  deps: { ledger: Pick<WorkLedger, "markPoisoned">; log: Logger; now: () => number },
): Promise<void> {
  if (attempt.dequeueCount === undefined || attempt.dequeueCount < attempt.maxDequeueCount) return;
  const { source, tenantId, stream, workId } = message;
  const reason = error instanceof Error ? error.message : String(error);
  try {
    const marked = await deps.ledger.markPoisoned(ledgerKeys(message), reason, deps.now());
    if (marked) deps.log.error("work poisoned: its message goes to the poison queue; re-drive it once the cause is fixed", { source, tenantId, stream, workId, dequeueCount: attempt.dequeueCount, error: reason });
  } catch (markError) {
    deps.log.warn("could not mark the ledger row poisoned", { source, tenantId, stream, workId, error: String(markError) });
  }
}

export interface RedriveFilter {
  source?: string;
  tenantId?: string;
  stream?: string;
}

export interface RedriveDeps {
  poison: Pick<QueueClient, "receiveMessages" | "deleteMessage" | "updateMessage">;
  /** Sends a message to the work queue (the worker's queue). */
  send: (message: WorkMessage) => Promise<void>;
  ledger: Pick<WorkLedger, "markRedriven">;
  /** Each feed's check of its items: a message is only ours if the worker would accept it. */
  feedOf: (name: string) => ItemCheck | string;
  now: () => number;
  dryRun?: boolean;
}

export interface RedriveStream {
  source: string;
  tenantId: string;
  stream: string;
  /** Sent back to the work queue (with --dry-run: would have been). */
  redriven: number;
  /** Left in the poison queue because the filter did not match. */
  left: number;
}

export interface RedriveReport {
  dryRun: boolean;
  streams: RedriveStream[];
  /** Messages that are not our envelope: left in the poison queue, with the reason. */
  invalid: { messageId: string; reason: string }[];
  totals: { redriven: number; left: number; invalid: number };
}

/** As many as one receive returns. */
const RECEIVE_BATCH = 32;
/**
 * How long a message stays hidden while the run looks at the rest: those it leaves are made visible
 * again only at the end, so the scan does not receive them over and over. A longer run sees a lapsed
 * one again and knows it by its id.
 */
const SCAN_LEASE_S = 600;

/**
 * Receives every message of the poison queue once. A matching message is sent back to the work
 * queue with its throttle count reset, its ledger row set `queued`, and only then deleted from the
 * poison queue: a crash in between duplicates a message rather than losing it, and the ledger and
 * the deterministic output names absorb the duplicate. Every other message is left where it was
 * and made visible again when the scan ends.
 */
export async function redrivePoison(filter: RedriveFilter, deps: RedriveDeps): Promise<RedriveReport> {
  const dryRun = deps.dryRun ?? false;
  const streams = new Map<string, RedriveStream>();
  const streamOf = ({ source, tenantId, stream }: WorkMessage) => {
    const key = `${source}|${tenantId}|${stream}`;
    let found = streams.get(key);
    if (!found) {
      found = { source, tenantId, stream, redriven: 0, left: 0 };
      streams.set(key, found);
    }
    return found;
  };
  const invalid: RedriveReport["invalid"] = [];
  const tenantId = filter.tenantId?.toLowerCase();
  /** Messages this run leaves in the queue (pop receipt of the latest receive), released at the end. */
  const held = new Map<string, string>();
  try {
    for (;;) {
      let received;
      try {
        received = (await deps.poison.receiveMessages({ numberOfMessages: RECEIVE_BATCH, visibilityTimeout: SCAN_LEASE_S })).receivedMessageItems;
      } catch (error) {
        if (statusOf(error) === 404) break; // no poison queue: nothing ever failed for good
        throw error;
      }
      const fresh = received.filter((item) => !held.has(item.messageId));
      for (const item of received) if (held.has(item.messageId)) held.set(item.messageId, item.popReceipt);
      // Only messages this run has seen: the scan went round the whole queue.
      if (fresh.length === 0) break;
      for (const item of fresh) {
        const parsed = parseWorkMessage(decodeMessage(item.messageText), deps.feedOf);
        if (!parsed.ok) {
          invalid.push({ messageId: item.messageId, reason: parsed.reason });
          held.set(item.messageId, item.popReceipt);
          continue;
        }
        const message = parsed.message;
        const counts = streamOf(message);
        const matches =
          (!filter.source || message.source === filter.source) && (!tenantId || message.tenantId === tenantId) && (!filter.stream || message.stream === filter.stream);
        if (!matches || dryRun) {
          if (matches) counts.redriven += 1;
          else counts.left += 1;
          held.set(item.messageId, item.popReceipt);
          continue;
        }
        // Its throttle count and, where its feed says so, its item's own state start again.
        const feed = deps.feedOf(message.source);
        const restarted = typeof feed !== "string" && feed.redriven ? feed.redriven(message.item) : message.item;
        await deps.send({ ...message, throttled: 0, item: restarted });
        await deps.ledger.markRedriven(ledgerKeys(message), deps.now());
        await deps.poison.deleteMessage(item.messageId, item.popReceipt);
        counts.redriven += 1;
      }
    }
  } finally {
    // Best effort, also after an error: a message not released reappears when its lease lapses.
    await Promise.allSettled([...held].map(([messageId, popReceipt]) => deps.poison.updateMessage(messageId, popReceipt, undefined, 0)));
  }
  const list = [...streams.values()].sort((a, b) => a.source.localeCompare(b.source) || a.tenantId.localeCompare(b.tenantId) || a.stream.localeCompare(b.stream));
  return {
    dryRun,
    streams: list,
    invalid,
    totals: { redriven: list.reduce((n, s) => n + s.redriven, 0), left: list.reduce((n, s) => n + s.left, 0), invalid: invalid.length },
  };
}

function ledgerKeys(message: WorkMessage): LedgerKeys {
  const { source, tenantId, stream, workId } = message;
  return { source, tenantId, stream, workId, created: new Date(message.created), ...(message.expires ? { expires: new Date(message.expires) } : {}) };
}
