import { SingleBar } from "cli-progress";
import type { RuntimeStats } from "../runtime.js";

/**
 * Progress of the local host. On a terminal, a live bar redrawn in place (cli-progress). Elsewhere
 * (a CI log, a file, a service's journal) a line when something changed, at most every few seconds,
 * so an idle collector between listings writes nothing.
 */
export interface ProgressExtra {
  poisoned: number;
  phase: string;
}

const LINE_INTERVAL_MS = 5_000;

export class Progress {
  private readonly bar: SingleBar | undefined;
  private lastLine = "";
  private lastPrinted = 0;

  constructor(
    private readonly stats: RuntimeStats,
    private readonly bySource: ReadonlyMap<string, RuntimeStats>,
    private readonly extra: () => ProgressExtra,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.bar = stream.isTTY
      ? new SingleBar({
          format: "{phase} [{bar}] {value}/{total} work done | {counts}",
          barsize: 24,
          hideCursor: true,
          stream,
        })
      : undefined;
  }

  start(): void {
    this.bar?.start(0, 0, this.payload());
  }

  update(): void {
    const done = this.stats.processed + this.stats.failed + this.stats.expired + this.stats.skipped;
    const total = Math.max(this.stats.enqueued, done);
    const payload = this.payload();
    if (this.bar) {
      this.bar.setTotal(total);
      this.bar.update(done, payload);
      return;
    }
    const line = `${payload.phase}: ${done}/${total} work done | ${payload.counts}`;
    const now = Date.now();
    if (line === this.lastLine || now - this.lastPrinted < LINE_INTERVAL_MS) return;
    this.stream.write(`${line}\n`);
    this.lastLine = line;
    this.lastPrinted = now;
  }

  stop(): void {
    if (this.bar) {
      this.update();
      this.bar.stop();
    }
  }

  private payload() {
    const { poisoned, phase } = this.extra();
    const s = this.stats;
    // Records per feed when there is more than one, so each feed's progress shows.
    const records =
      this.bySource.size > 1 ? [...this.bySource].map(([name, own]) => `${name} ${own.recordsWritten}`).join(", ") : String(s.recordsWritten);
    const counts =
      `${s.workListed} listed, ${s.enqueued} queued | records: ${records} | ${s.duplicatesSkipped} dup skipped | ` +
      `${s.throttledRequests} throttled | ${s.failed + poisoned + s.rejectedMessages} failed | ${s.expired} expired`;
    return { phase, counts };
  }
}
