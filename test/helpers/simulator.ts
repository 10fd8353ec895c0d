import { Agent } from "undici";
import { parseSettings, type Settings } from "../../shared/config/settings.js";
import { RequestGate } from "../../shared/http/gate.js";
import { createCredentialFactory } from "../../shared/entra/auth.js";
import { ManagementApiClient, type ManagementApiClientOptions, type RequestEvent } from "../../shared/sources/o365-audit/client.js";
import { startSimulator, type Simulator, type SimulatorOptions } from "../../shared/simulator/server.js";
import type { O365AuditConfig } from "../../shared/sources/o365-audit/settings.js";

export const TENANT_A = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
export const TENANT_B = "1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e";
export const TENANT_C = "2c3d4e5f-6a7b-4c8d-ae9f-1a2b3c4d5e6f";
export const CLIENT_ID = "5a0c3e71-2d9b-4c8f-a6e4-1f7b3d9c0e52";
export const SECRET = "test-secret-value-do-not-log";

export function tenants(ids: string[]) {
  return ids.map((id, i) => ({ id, domain: `tenant${i}.onmicrosoft.com` }));
}

export async function simulator(options: Partial<SimulatorOptions> & Pick<SimulatorOptions, "from" | "to">): Promise<Simulator> {
  return startSimulator({
    tenants: tenants([TENANT_A]),
    clientId: CLIENT_ID,
    clientSecret: SECRET,
    blobIntervalMs: 30 * 60_000,
    recordsPerBlob: [2, 6],
    ...options,
  });
}

/** The audit feed's own settings, from the parsed whole. */
export function auditConfig(settings: Settings): O365AuditConfig {
  return settings.sources.get("o365-audit") as O365AuditConfig;
}

export function settingsFor(sim: Simulator, env: Record<string, string> = {}): Settings {
  return parseSettings({
    O365_TENANT_IDS: TENANT_A,
    O365_CLIENT_ID: CLIENT_ID,
    O365_CLIENT_SECRET: SECRET,
    O365_API_BASE_URL: sim.apiBaseUrl,
    O365_LOGIN_BASE_URL: sim.loginBaseUrl,
    DataStorage: "UseDevelopmentStorage=true",
    ...env,
  });
}

/**
 * A client of the simulator that never really waits: backoff sleeps and gate waits are recorded
 * (`sleeps`, `waits`) and the gate's clock jumps over them.
 */
export function clientFor(sim: Simulator, overrides: Partial<ManagementApiClientOptions> & { settings?: Settings; assertionSource?: () => Promise<string> } = {}) {
  const settings = overrides.settings ?? settingsFor(sim);
  const audit = auditConfig(settings);
  const events: RequestEvent[] = [];
  const sleeps: number[] = [];
  const waits: number[] = [];
  let gateNow = 0;
  const gate = new RequestGate({
    now: () => gateNow,
    sleep: async (ms) => {
      waits.push(ms);
      gateNow += ms;
    },
  });
  const client = new ManagementApiClient({
    apiBaseUrl: audit.apiBaseUrl,
    publisherId: audit.publisherId,
    credentialFor: createCredentialFactory(audit.entra, { requestTimeoutMs: settings.requestTimeoutMs, trustedCa: sim.ca, ...(overrides.assertionSource ? { assertionSource: overrides.assertionSource } : {}) }),
    dispatcher: new Agent({ connect: { ca: sim.ca } }),
    timeoutMs: 10_000,
    gate,
    maxThrottleRetries: 5,
    maxTransientRetries: 3,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    onRequest: (event) => events.push(event),
    ...overrides,
  });
  return { client, events, sleeps, waits, gate };
}
