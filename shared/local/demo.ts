import { randomBytes } from "node:crypto";
import { startSimulator, type Simulator } from "../simulator/server.js";

/**
 * What `npm start` runs against when no tenant is configured: the simulator with three demo
 * tenants, a few hours of content behind and a day ahead (published as the clock reaches it),
 * and light versions of every fault, so the first run shows the collector coping with them.
 */
export const DEMO_TENANTS = [
  { id: "4d6f1a52-8c3e-4b7a-9e21-0c5d7f3a9b10", domain: "contoso.onmicrosoft.com" },
  { id: "9b2e7c41-3f8a-4d6e-b1c5-2a7f9e0d4c83", domain: "fabrikam.onmicrosoft.com" },
  { id: "e3a95d07-6b1c-4f2e-8d4a-7c0b1e9f5a26", domain: "northwind.onmicrosoft.com" },
];
export const DEMO_CLIENT_ID = "5a0c3e71-2d9b-4c8f-a6e4-1f7b3d9c0e52";
/** A stable port keeps content URIs queued by an earlier run valid; another is used when it is taken. */
const DEMO_PORT = 44365;

export interface Demo {
  simulator: Simulator;
  env: Record<string, string>;
}

export async function startDemo(now = Date.now()): Promise<Demo> {
  const secret = randomBytes(24).toString("base64url");
  const options = {
    tenants: DEMO_TENANTS,
    clientId: DEMO_CLIENT_ID,
    clientSecret: secret,
    from: now - 3 * 3_600_000,
    to: now + 24 * 3_600_000,
    blobIntervalMs: 10 * 60_000,
    recordsPerBlob: [5, 40] as [number, number],
    seed: Math.floor(now / 1000),
    pageSize: 20,
    faults: {
      throttle403Rate: 0.03,
      throttle429Rate: 0.02,
      retryAfterSeconds: 2,
      serverErrorRate: 0.02,
      lateRate: 0.05,
      lateDelayMs: 20 * 60_000,
      duplicateRate: 0.01,
      expiredRate: 0.01,
      subscriptionsStartDisabled: true,
    },
  };
  const simulator = await startSimulator({ ...options, port: DEMO_PORT }).catch(() => startSimulator(options));
  return {
    simulator,
    env: {
      O365_TENANT_IDS: DEMO_TENANTS.map((t) => t.id).join(","),
      O365_TENANT_NAMES: DEMO_TENANTS.map((t) => `${t.id}=${t.domain}`).join(","),
      O365_CLIENT_ID: DEMO_CLIENT_ID,
      O365_CLIENT_SECRET: secret,
      O365_API_BASE_URL: simulator.apiBaseUrl,
      O365_LOGIN_BASE_URL: simulator.loginBaseUrl,
    },
  };
}
