import { app, type InvocationContext } from "@azure/functions";
import { parseContentMessage } from "../shared/pipeline/message.js";
import { getRuntime } from "../shared/runtime.js";
import { invocationLogger } from "./logger.js";

/** Queue: download one content blob, normalize it, write it. Invalid messages are kept, not retried. */
export async function processContent(queueEntry: unknown, context: InvocationContext): Promise<void> {
  const runtime = await getRuntime();
  const log = invocationLogger(context);
  const parsed = parseContentMessage(queueEntry, runtime.settings.apiBaseUrl);
  const messageId = String(context.triggerMetadata?.id ?? context.invocationId);
  if (!parsed.ok) {
    await runtime.reject(messageId, queueEntry, parsed.reason, log);
    return;
  }
  await runtime.process(parsed.message, log);
}

app.storageQueue("processContent", {
  queueName: "%O365_CONTENT_QUEUE%",
  connection: "DataStorage",
  handler: processContent,
});
