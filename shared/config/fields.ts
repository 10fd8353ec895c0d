import { CronExpressionParser } from "cron-parser";
import { z } from "zod";
import { parseDuration } from "./duration.js";

/**
 * Builders of setting checks, shared by the generic settings and each feed's slice: one wording for
 * one kind of value, whichever feed reads it. Messages say what is expected; the value itself is
 * appended by the settings parser (hidden for secrets).
 */

export const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
export const STORAGE_NAME = /^[a-z0-9]{3,24}$/;

export const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === "" ? undefined : value.trim()));

export const duration = (fallback: string, minimumMs = 0, maximumMs = Number.POSITIVE_INFINITY) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined) {
        ctx.addIssue({ code: "custom", message: "expected a duration such as 90s, 5m, 1h or 6d23h55m" });
        return z.NEVER;
      }
      if (ms < minimumMs) {
        ctx.addIssue({ code: "custom", message: `expected at least ${minimumMs / 1_000}s` });
        return z.NEVER;
      }
      if (ms > maximumMs) {
        ctx.addIssue({ code: "custom", message: `expected at most ${maximumMs / 3_600_000}h` });
        return z.NEVER;
      }
      return ms;
    });

/** One check with one message: separate int/min/max checks would report 300.5 twice. */
export const positiveInt = (fallback: number, max: number) => {
  const expected = `expected a whole number from 1 to ${max}`;
  return z.coerce
    .number({ error: expected })
    .refine((n) => Number.isInteger(n) && n >= 1 && n <= max, expected)
    .default(fallback);
};

export const httpsUrl = optionalText.pipe(
  z
    .url({ protocol: /^https$/, error: "expected an https:// URL" })
    .transform((url) => url.replace(/\/+$/, ""))
    .optional(),
);

/** An on/off switch, as app settings write it. */
export const flag = (fallback: boolean) =>
  z
    .string()
    .default(String(fallback))
    .transform((text, ctx) => {
      const value = text.trim().toLowerCase();
      if (value === "true" || value === "1") return true;
      if (value === "false" || value === "0") return false;
      ctx.addIssue({ code: "custom", message: "expected true or false" });
      return z.NEVER;
    });

/** Azure Functions timers use NCRONTAB: six fields, seconds first. */
export const ncrontab = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((text) => text.trim().split(/\s+/).length === 6, "expected an NCRONTAB expression with six fields (seconds first), e.g. 0 */5 * * * *")
    .refine((text) => {
      try {
        CronExpressionParser.parse(text);
        return true;
      } catch {
        return false;
      }
    }, "not a valid NCRONTAB expression");

export const storageName = (fallback: string) => z.string().default(fallback).pipe(z.string().regex(STORAGE_NAME, "expected 3-24 lowercase letters and digits"));

/** A comma-separated list of DNS names, lowercased and de-duplicated. */
export const domainList = optionalText.transform((text, ctx) => {
  const names = [...new Set((text ?? "").split(",").map((d) => d.trim().toLowerCase()).filter(Boolean))];
  const bad = names.filter((name) => !DNS_NAME.test(name));
  if (bad.length > 0) ctx.addIssue({ code: "custom", message: `expected comma-separated domain names (not domains: ${bad.join(", ")})` });
  return names;
});
