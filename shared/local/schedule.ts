import { CronExpressionParser } from "cron-parser";

/**
 * The local host's timer trigger: runs now, then on every NCRONTAB tick (six fields, seconds
 * first, as Azure Functions reads them) until the signal aborts. Ticks do not overlap: a run that
 * outlasts its period is followed by the next tick after it, as a singleton timer would be.
 */
export async function runOnSchedule(schedule: string, run: () => Promise<void>, signal: AbortSignal): Promise<void> {
  let wake: () => void = () => undefined;
  const onAbort = () => wake();
  signal.addEventListener("abort", onAbort);
  try {
    if (!signal.aborted) await run();
    while (!signal.aborted) {
      const next = CronExpressionParser.parse(schedule, { currentDate: new Date() }).next().getTime();
      await new Promise<void>((resolve) => {
        // The tick's timer must not outlive a stop: it would keep the process alive until the next tick.
        const timer = setTimeout(resolve, Math.max(0, next - Date.now()));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (!signal.aborted) await run();
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
