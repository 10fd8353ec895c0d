import type { InvocationContext } from "@azure/functions";
import { formatLine, type Logger } from "../shared/util/log.js";

/** Routes shared/ logging to the invocation's logger, so Application Insights ties it to the invocation. */
export function invocationLogger(context: InvocationContext): Logger {
  return {
    info: (message, properties) => context.info(formatLine(message, properties)),
    warn: (message, properties) => context.warn(formatLine(message, properties)),
    error: (message, properties) => context.error(formatLine(message, properties)),
  };
}
