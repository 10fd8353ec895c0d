import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { getRuntime } from "../shared/runtime.js";

/** GET /api/status (function key): collection state per tenant and content type, from the cursors and the ledger. */
export async function status(_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const runtime = await getRuntime();
  return { status: 200, jsonBody: await runtime.status(), headers: { "cache-control": "no-store" } };
}

app.http("status", {
  methods: ["GET"],
  authLevel: "function",
  route: "status",
  handler: status,
});
