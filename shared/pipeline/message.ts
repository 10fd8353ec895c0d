import { z } from "zod";
import { GUID, isoDateTime } from "../config/formats.js";
import { CONTENT_TYPES } from "../entra/clouds.js";
import { assertFeedUrl } from "../sources/o365-audit/urls.js";

/**
 * The queue message that carries one content blob from the lister to the worker.
 * Versioned: a worker refuses versions it does not know rather than guessing.
 */

export const contentMessageSchema = z.object({
  v: z.literal(1, { error: "unsupported message version (expected v: 1)" }),
  tenantId: z.string().regex(GUID, "expected a tenant GUID").transform((s) => s.toLowerCase()),
  contentType: z.enum(CONTENT_TYPES),
  contentId: z.string().min(1).max(512).regex(/^[^\s/\\?#]+$/, "contentId has characters no content id has"),
  contentUri: z.string().url(),
  contentCreated: isoDateTime,
  contentExpiration: isoDateTime,
  /** How many times the worker put this message back because the API throttled it. */
  throttled: z.number().int().min(0).max(1_000).default(0),
});

export type ContentMessage = z.output<typeof contentMessageSchema>;

export type MessageParse = { ok: true; message: ContentMessage } | { ok: false; reason: string };

/**
 * Accepts the trigger's payload (already-parsed JSON, a JSON string, or bytes) and checks that its
 * contentUri is on the configured API host under the message's own tenant: a forged message must
 * not point our bearer token anywhere else.
 */
export function parseContentMessage(payload: unknown, apiBaseUrl: string): MessageParse {
  let value = payload;
  if (Buffer.isBuffer(value)) value = value.toString("utf8");
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      return { ok: false, reason: "message is not JSON" };
    }
  }
  const parsed = contentMessageSchema.safeParse(value);
  if (parsed.success) {
    try {
      assertFeedUrl(apiBaseUrl, parsed.data.tenantId, parsed.data.contentUri);
    } catch (error) {
      return { ok: false, reason: `contentUri: ${(error as Error).message}` };
    }
    return { ok: true, message: parsed.data };
  }
  return {
    ok: false,
    reason: parsed.error.issues.map((i) => `${i.path.join(".") || "(message)"}: ${i.message}`).join("; "),
  };
}
