import type { Readable } from "node:stream";

/**
 * Where normalized NDJSON goes. Names are deterministic, so a retried blob overwrites its own
 * output instead of adding a second copy; a writer becomes visible only when committed.
 */
export interface OutputWriter {
  /**
   * Lines of NDJSON, UTF-8 encoded. Resolves once the writer has taken all of the chunk's bytes
   * (backpressure): from then on the caller may reuse the chunk's memory.
   */
  write(chunk: Uint8Array): Promise<void>;
  /** Makes the output visible under its final name; returns compressed bytes written. */
  commit(): Promise<{ bytes: number }>;
  /** Drops everything written so far; nothing becomes visible. */
  abort(reason: Error): Promise<void>;
}

export interface OutputSink {
  /** Human-readable location, for logs and the CLI summary. */
  readonly location: string;
  open(path: string): Promise<OutputWriter>;
  /** Stores bytes as they are (failed content, rejected messages) with a sidecar of metadata. */
  putRaw(path: string, body: Readable | Buffer, metadata: Record<string, string>): Promise<void>;
}
