import { z } from "zod";
import { isoDateTime } from "../config/formats.js";
import type { Work } from "../sources/source.js";

/**
 * The queue message that carries one work item from the lister to the worker: the pipeline's
 * envelope (feed, tenant, stream, work id, times, throttle count) around the item its feed defines
 * and validates. Versioned: a worker refuses versions it does not know rather than guessing.
 */
export const MESSAGE_VERSION = 2;

export const workMessageSchema = z.strictObject({
  v: z.literal(MESSAGE_VERSION, { error: `unsupported message version (expected v: ${MESSAGE_VERSION})` }),
  source: z.string().regex(/^[a-z0-9-]{1,40}$/, "expected a feed name"),
  tenantId: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "expected a tenant id").transform((s) => s.toLowerCase()),
  stream: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "expected a stream name"),
  workId: z.string().min(1).max(512).regex(/^[^\s/\\?#]+$/, "workId has characters no work id has"),
  created: isoDateTime,
  expires: isoDateTime.optional(),
  /** How many times the worker put this message back because the API throttled it. */
  throttled: z.number().int().min(0).max(1_000).default(0),
  item: z.unknown(),
});

export type WorkMessage<Item = unknown> = Omit<z.output<typeof workMessageSchema>, "item"> & { item: Item };

/** What the parser needs of a feed: its item schema and its own refusals (a URL off its API host). */
export interface ItemCheck {
  item: z.ZodType;
  refuse(work: Work<unknown>): string | undefined;
  /** The item a re-driven message starts again from (the feed's `redriven`), when the feed has one. */
  redriven?(item: unknown): unknown;
}

/** A refusal carries the envelope when the envelope itself was valid (the item or the feed was not). */
export type MessageParse = { ok: true; message: WorkMessage } | { ok: false; reason: string; envelope?: WorkMessage };

export function toMessage(source: string, work: Work<unknown>): WorkMessage {
  const { tenantId, stream, workId, created, expires, item } = work;
  return { v: MESSAGE_VERSION, source, tenantId, stream, workId, created, ...(expires ? { expires } : {}), throttled: 0, item };
}

/**
 * Accepts the trigger's payload (already-parsed JSON, a JSON string, or bytes), checks the envelope,
 * then the item against its feed's schema and the feed's own refusals: a forged message must not
 * point our credentials anywhere the settings do not.
 */
export function parseWorkMessage(payload: unknown, feedOf: (name: string) => ItemCheck | string): MessageParse {
  let value = payload;
  if (Buffer.isBuffer(value)) value = value.toString("utf8");
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      return { ok: false, reason: "message is not JSON" };
    }
  }
  const envelope = workMessageSchema.safeParse(value);
  if (!envelope.success) return { ok: false, reason: describe(envelope.error) };
  const feed = feedOf(envelope.data.source);
  if (typeof feed === "string") return { ok: false, reason: `source: ${feed}`, envelope: envelope.data };
  const item = feed.item.safeParse(envelope.data.item);
  if (!item.success) return { ok: false, reason: describe(item.error, "item"), envelope: envelope.data };
  const message: WorkMessage = { ...envelope.data, item: item.data };
  const refusal = feed.refuse(message);
  return refusal === undefined ? { ok: true, message } : { ok: false, reason: refusal, envelope: envelope.data };
}

function describe(error: z.ZodError, prefix?: string): string {
  return error.issues.map((i) => `${[prefix, ...i.path].filter((p) => p !== undefined).join(".") || "(message)"}: ${i.message}`).join("; ");
}
