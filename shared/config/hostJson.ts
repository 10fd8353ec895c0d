import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { z } from "zod";

/**
 * The parts of host.json the local host honours, so that `npm start` behaves like the
 * Functions queue trigger: batch size, when to fetch the next batch, how long a failed message
 * stays invisible, and after how many dequeues it goes to the poison queue. The runtime reads the
 * last one too, to know which failure is a message's final one.
 */
const timeSpan = z
  .string()
  .regex(/^(\d+\.)?\d{2}:\d{2}:\d{2}$/, "expected hh:mm:ss")
  .transform((s) => {
    const [days, rest] = s.includes(".") ? s.split(".") : ["0", s];
    const [h, m, sec] = (rest as string).split(":").map(Number);
    return Number(days) * 86_400_000 + (h as number) * 3_600_000 + (m as number) * 60_000 + (sec as number) * 1000;
  });

export const hostJsonSchema = z.object({
  functionTimeout: timeSpan.default(600_000),
  extensions: z
    .object({
      queues: z
        .object({
          batchSize: z.number().int().min(1).max(32).default(16),
          newBatchThreshold: z.number().int().min(0).optional(),
          maxDequeueCount: z.number().int().min(1).default(5),
          visibilityTimeout: timeSpan.default(0),
          maxPollingInterval: timeSpan.default(60_000),
          messageEncoding: z.enum(["base64", "none"]).default("base64"),
        })
        .default({ batchSize: 16, maxDequeueCount: 5, visibilityTimeout: 0, maxPollingInterval: 60_000, messageEncoding: "base64" }),
    })
    .default({ queues: { batchSize: 16, maxDequeueCount: 5, visibilityTimeout: 0, maxPollingInterval: 60_000, messageEncoding: "base64" } }),
});

export interface QueueSemantics {
  batchSize: number;
  newBatchThreshold: number;
  maxDequeueCount: number;
  visibilityTimeoutMs: number;
  maxPollingIntervalMs: number;
  /** How long a message being processed stays invisible to other pollers. */
  leaseMs: number;
  base64: boolean;
}

export async function readQueueSemantics(path: string): Promise<QueueSemantics> {
  return queueSemantics(JSON.parse(await readFile(path, "utf8")));
}

/**
 * The queue semantics of the app's own host.json, at the app root: beside `shared/` when run from
 * source (tests, tsx), beside `dist/` when compiled (the deployment package). Without one, the
 * Functions host's own defaults apply, and so do they here.
 */
export async function readAppQueueSemantics(): Promise<QueueSemantics> {
  const path = ["../../host.json", "../../../host.json"].map((relative) => fileURLToPath(new URL(relative, import.meta.url))).find((candidate) => existsSync(candidate));
  return path ? readQueueSemantics(path) : queueSemantics({});
}

function queueSemantics(json: unknown): QueueSemantics {
  const parsed = hostJsonSchema.safeParse(json);
  if (!parsed.success) throw new Error(`host.json: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const queues = parsed.data.extensions.queues;
  return {
    batchSize: queues.batchSize,
    // The Functions default: half the batch size.
    newBatchThreshold: queues.newBatchThreshold ?? Math.floor(queues.batchSize / 2),
    maxDequeueCount: queues.maxDequeueCount,
    visibilityTimeoutMs: queues.visibilityTimeout,
    maxPollingIntervalMs: queues.maxPollingInterval,
    leaseMs: parsed.data.functionTimeout,
    base64: queues.messageEncoding === "base64",
  };
}

