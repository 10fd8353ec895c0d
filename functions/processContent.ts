import { app, type InvocationContext } from "@azure/functions";
import { getRuntime } from "../shared/runtime.js";
import { invocationLogger } from "./logger.js";

/** Queue: download one content blob, normalize it, write it. Invalid messages are kept with the reason, not retried. */
export async function processContent(queueEntry: unknown, context: InvocationContext): Promise<void> {
  const runtime = await getRuntime();
  const messageId = String(context.triggerMetadata?.id ?? context.invocationId);
  await runtime.handleMessage(queueEntry, messageId, invocationLogger(context));
}

app.storageQueue("processContent", {
  queueName: "%O365_CONTENT_QUEUE%",
  connection: "DataStorage",
  handler: processContent,
});
