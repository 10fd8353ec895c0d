import { app, type InvocationContext } from "@azure/functions";
import { getRuntime } from "../shared/runtime.js";
import { invocationLogger } from "./logger.js";

/** Queue: fetch one work item of any feed, normalize it, write it. Invalid messages are kept with the reason, not retried. */
export async function processWork(queueEntry: unknown, context: InvocationContext): Promise<void> {
  const runtime = await getRuntime();
  const messageId = String(context.triggerMetadata?.id ?? context.invocationId);
  // The host moves the message to the poison queue after its last failure; shared/ marks the ledger first.
  const dequeueCount = Number(context.triggerMetadata?.dequeueCount);
  await runtime.handleMessage(queueEntry, messageId, invocationLogger(context), Number.isFinite(dequeueCount) ? dequeueCount : undefined);
}

app.storageQueue("processWork", {
  queueName: "%WORK_QUEUE%",
  connection: "DataStorage",
  handler: processWork,
});
