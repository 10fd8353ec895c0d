import type { QueueClient } from "@azure/storage-queue";
import { decodeMessage } from "../pipeline/workQueue.js";
import type { Logger } from "../util/log.js";
import type { QueueSemantics } from "../config/hostJson.js";

/**
 * A queue trigger for the local host, with the Functions host's semantics: up to batchSize
 * messages in flight, a new batch fetched when in-flight drops to newBatchThreshold, a failed
 * message made visible again after visibilityTimeout, and after maxDequeueCount failures moved
 * to `<queue>-poison` with its text unchanged.
 */
export interface QueueMessageInfo {
  id: string;
  dequeueCount: number;
  insertedOn: Date | undefined;
}

export type QueueHandler = (payload: unknown, info: QueueMessageInfo) => Promise<void>;

export class QueuePoller {
  private inFlight = 0;
  private stopped = false;
  private idleDelayMs = 100;
  private readonly running = new Set<Promise<void>>();
  poisoned = 0;
  failures = 0;

  constructor(
    private readonly queue: QueueClient,
    private readonly poison: QueueClient,
    private readonly semantics: QueueSemantics,
    private readonly handler: QueueHandler,
    private readonly log: Logger,
  ) {}

  get busy(): number {
    return this.inFlight;
  }

  async ensure(): Promise<void> {
    await this.queue.createIfNotExists();
    await this.poison.createIfNotExists();
  }

  /** Polls until stop(); returns once every message in flight has settled. */
  async run(): Promise<void> {
    while (!this.stopped) {
      if (this.inFlight > this.semantics.newBatchThreshold) {
        await Promise.race(this.running);
        continue;
      }
      let received = 0;
      try {
        received = await this.fetchBatch(this.semantics.batchSize - this.inFlight);
      } catch (error) {
        this.log.warn("queue poll failed; retrying", { queue: this.queue.name, error: String(error) });
      }
      if (received > 0) {
        this.idleDelayMs = 100;
      } else {
        await sleep(this.idleDelayMs);
        this.idleDelayMs = Math.min(this.semantics.maxPollingIntervalMs, this.idleDelayMs * 2);
      }
    }
    await Promise.allSettled(this.running);
  }

  stop(): void {
    this.stopped = true;
  }

  /**
   * Resolves true once nothing is on the queue, visible or not (delayed retries count), and
   * nothing is in flight, twice in a row; false if that does not happen within timeoutMs.
   */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let quiet = 0;
    while (Date.now() < deadline) {
      await sleep(250);
      const { approximateMessagesCount } = await this.queue.getProperties();
      quiet = approximateMessagesCount === 0 && this.inFlight === 0 ? quiet + 1 : 0;
      if (quiet >= 2) return true;
    }
    return false;
  }

  /** Makes the next poll immediate (after the lister enqueued new work). */
  wake(): void {
    this.idleDelayMs = 0;
  }

  private async fetchBatch(count: number): Promise<number> {
    const response = await this.queue.receiveMessages({
      numberOfMessages: Math.max(1, Math.min(32, count)),
      visibilityTimeout: Math.ceil(this.semantics.leaseMs / 1000),
    });
    for (const message of response.receivedMessageItems) {
      this.inFlight += 1;
      const task = this.handle(message).finally(() => {
        this.inFlight -= 1;
        this.running.delete(task);
      });
      this.running.add(task);
    }
    return response.receivedMessageItems.length;
  }

  private async handle(message: Awaited<ReturnType<QueueClient["receiveMessages"]>>["receivedMessageItems"][number]): Promise<void> {
    const text = this.semantics.base64 ? decodeMessage(message.messageText) : message.messageText;
    let payload: unknown = text;
    try {
      payload = JSON.parse(text);
    } catch {
      // The Functions host hands non-JSON messages over as strings; so do we.
    }
    try {
      await this.handler(payload, { id: message.messageId, dequeueCount: message.dequeueCount, insertedOn: message.insertedOn });
      await this.queue.deleteMessage(message.messageId, message.popReceipt);
    } catch (error) {
      this.failures += 1;
      if (message.dequeueCount >= this.semantics.maxDequeueCount) {
        await this.poison.sendMessage(message.messageText);
        await this.queue.deleteMessage(message.messageId, message.popReceipt);
        this.poisoned += 1;
        this.log.error("message moved to the poison queue", { queue: this.poison.name, messageId: message.messageId, dequeueCount: message.dequeueCount, error: errorText(error) });
      } else {
        await this.queue.updateMessage(message.messageId, message.popReceipt, undefined, Math.ceil(this.semantics.visibilityTimeoutMs / 1000));
        this.log.warn("message failed; it will be retried", { messageId: message.messageId, dequeueCount: message.dequeueCount, error: errorText(error) });
      }
    }
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
