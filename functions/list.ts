import { app, type InvocationContext, type Timer } from "@azure/functions";
import { getRuntime } from "../shared/runtime.js";
import { SOURCES } from "../shared/sources/registry.js";
import { invocationLogger } from "./logger.js";

/**
 * Timers: one per feed, each on its own schedule (`%<feed's schedule setting>%`), registered from the
 * registry, so a new feed needs no new function file. Each lists its feed's streams and enqueues what is
 * new; a feed that is switched off does nothing.
 */
export function listSource(name: string) {
  return async function list(timer: Timer, context: InvocationContext): Promise<void> {
    const runtime = await getRuntime();
    if (!runtime.settings.enabledSources.includes(name)) {
      context.info(`${name}: not enabled; nothing to list`);
      return;
    }
    if (timer.isPastDue) context.warn(`${name}: listing timer is past due; this run catches up from the cursors`);
    const summary = await runtime.list(invocationLogger(context), name);
    context.info(
      `${name}: listing done: ${summary.listed} listed, ${summary.enqueued} enqueued, ${summary.failedStreams} streams failed, ` +
        `${summary.deferredStreams} deferred, ${summary.durationMs} ms`,
    );
  };
}

for (const source of SOURCES) {
  app.timer(`list-${source.name}`, {
    schedule: `%${source.scheduleSetting}%`,
    runOnStartup: false,
    useMonitor: true,
    handler: listSource(source.name),
  });
}
