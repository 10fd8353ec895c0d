import type { QueueClient } from "@azure/storage-queue";
import type { WorkMessage } from "./message.js";

/**
 * The work queue, one for every feed. Messages are base64 JSON, which is what the Functions queue
 * trigger expects with host.json's default `messageEncoding`.
 */
/** The queue service's longest visibility delay. */
const MAX_VISIBILITY_DELAY_S = 7 * 24 * 3600 - 1;

export function encodeMessage(message: WorkMessage): string {
  return Buffer.from(JSON.stringify(message), "utf8").toString("base64");
}

export function decodeMessage(text: string): string {
  return Buffer.from(text, "base64").toString("utf8");
}

export class WorkQueue {
  constructor(readonly client: QueueClient) {}

  get name(): string {
    return this.client.name;
  }

  async ensure(): Promise<void> {
    await this.client.createIfNotExists();
  }

  async send(message: WorkMessage, delayMs = 0): Promise<void> {
    const visibilityTimeout = Math.min(MAX_VISIBILITY_DELAY_S, Math.ceil(delayMs / 1000));
    // Never expire on the queue (its default is 7 days): work may wait longer (a stopped app, a 90-day backfill),
    // and the worker itself records work past its own expiry as lost at the source.
    await this.client.sendMessage(encodeMessage(message), { messageTimeToLive: -1, ...(visibilityTimeout > 0 ? { visibilityTimeout } : {}) });
  }
}
