import type { ApiError, ApiErrorClass } from "../http/errors.js";
import type { Failure } from "./source.js";

/**
 * An ApiError in the pipeline's terms, for any feed whose client throws them: its class, its fix (the
 * client's, else the feed's default for the class), its code for reporting once, and whether anything
 * reached the API (a request refused at the gate or without an answer has no status).
 */
export function apiFailure(error: ApiError, defaultFixes: Readonly<Record<ApiErrorClass, string>>): Failure {
  return {
    errorClass: error.errorClass,
    fix: error.fix ?? defaultFixes[error.errorClass],
    code: error.code ?? (error.status === undefined ? undefined : String(error.status)),
    retryAfterMs: error.retryAfterMs,
    sent: error.status !== undefined,
  };
}
