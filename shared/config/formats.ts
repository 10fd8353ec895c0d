import { z } from "zod";

/** Formats checked at more than one boundary (settings, queue messages, API responses). */
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isoDateTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "expected an ISO 8601 date-time");
