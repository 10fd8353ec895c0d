import { app, type InvocationContext, type Timer } from "@azure/functions";
import { getRuntime } from "../shared/runtime.js";
import { invocationLogger } from "./logger.js";

/** Timer: list available content for every tenant × content type and enqueue what is new. */
export async function listContent(timer: Timer, context: InvocationContext): Promise<void> {
  const runtime = await getRuntime();
  if (timer.isPastDue) context.warn("listing timer is past due; this run catches up from the cursors");
  const summary = await runtime.list(invocationLogger(context));
  context.info(
    `listing done: ${summary.listed} content listed, ${summary.enqueued} enqueued, ${summary.failedStreams} streams failed, ` +
      `${summary.deferredStreams} deferred, ${summary.durationMs} ms`,
  );
}

app.timer("listContent", {
  schedule: "%O365_LIST_SCHEDULE%",
  runOnStartup: false,
  useMonitor: true,
  handler: listContent,
});
