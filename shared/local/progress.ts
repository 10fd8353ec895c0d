import { SingleBar } from "cli-progress";
import type { RuntimeStats } from "../runtime.js";

/**
 * Progress of the local host: a live bar on a terminal, a line every few seconds otherwise
 * (CI logs), both from cli-progress.
 */
export class Progress {
  private readonly bar: SingleBar;

  constructor(private readonly stats: RuntimeStats, private readonly extra: () => { poisoned: number; phase: string }) {
    this.bar = new SingleBar({
      format: "{phase} [{bar}] {value}/{total} done | {listed} listed, {queued} queued | {records} records | {duplicates} dup skipped | {throttled} throttled | {failed} failed | {expired} expired",
      barsize: 24,
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 5_000,
      etaBuffer: 50,
    });
  }

  start(): void {
    this.bar.start(0, 0, this.payload());
  }

  update(): void {
    const done = this.stats.processed + this.stats.failed + this.stats.expired + this.stats.skipped;
    this.bar.setTotal(Math.max(this.stats.enqueued, done));
    this.bar.update(done, this.payload());
  }

  stop(): void {
    this.update();
    this.bar.stop();
  }

  private payload() {
    const { poisoned, phase } = this.extra();
    return {
      phase,
      listed: this.stats.contentListed,
      queued: this.stats.enqueued,
      records: this.stats.recordsWritten,
      duplicates: this.stats.duplicatesSkipped,
      throttled: this.stats.throttledRequests,
      failed: this.stats.failed + poisoned + this.stats.rejectedMessages,
      expired: this.stats.expired,
    };
  }
}
