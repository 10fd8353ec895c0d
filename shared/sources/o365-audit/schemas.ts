import { z } from "zod";
import { isoDateTime } from "../../config/formats.js";
import { CONTENT_TYPES } from "../../entra/clouds.js";

/** Shapes of the Management Activity API's responses, checked at the boundary. */


export const contentItemSchema = z.object({
  contentType: z.enum(CONTENT_TYPES),
  contentId: z.string().min(1).max(512),
  contentUri: z.string().url(),
  contentCreated: isoDateTime,
  contentExpiration: isoDateTime,
});
export type ContentItem = z.infer<typeof contentItemSchema>;

export const contentListSchema = z.array(contentItemSchema);

export const subscriptionSchema = z.object({
  contentType: z.string(),
  status: z.string(),
  webhook: z.unknown().optional(),
});
export const subscriptionListSchema = z.array(subscriptionSchema);
export type Subscription = z.infer<typeof subscriptionSchema>;

export const errorBodySchema = z.object({
  error: z.object({ code: z.string().optional(), message: z.string().optional() }).passthrough(),
});
