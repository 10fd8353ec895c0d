/**
 * Run as a child process by processExit.test.ts: one API call whose token request gets no answer
 * (settings from the environment), its error class printed, and nothing else left to do.
 */
import { Agent } from "undici";
import { parseSettings } from "../../shared/config/settings.js";
import { RequestGate } from "../../shared/http/gate.js";
import { createCredentialFactory } from "../../shared/entra/auth.js";
import { ManagementApiClient } from "../../shared/sources/o365-audit/client.js";
import type { ManagementApiError } from "../../shared/sources/o365-audit/errors.js";
import { auditConfig } from "./simulator.js";

const settings = parseSettings(process.env);
const audit = auditConfig(settings);
const client = new ManagementApiClient({
  apiBaseUrl: audit.apiBaseUrl,
  publisherId: audit.publisherId,
  credentialFor: createCredentialFactory(audit.entra, { requestTimeoutMs: settings.requestTimeoutMs }),
  dispatcher: new Agent(),
  timeoutMs: settings.requestTimeoutMs,
  gate: new RequestGate(),
  maxThrottleRetries: 0,
  maxTransientRetries: 0,
});
const failure = (await client.listSubscriptions(audit.entra.tenantIds[0] as string).catch((error: unknown) => error)) as ManagementApiError;
process.stdout.write(`${failure.errorClass}\n`);
