import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { z } from "zod";
import { startSimulator, type Simulator } from "../simulator/server.js";
import { generateMessageTraces, messageTraceRoute } from "../sources/message-trace/simulator.js";
import { defaultSophosDirectory, generateXdrRows, sophosXdrRoute } from "../sources/sophos-xdr/simulator.js";

/**
 * What `npm start` runs against when no tenant is configured: the simulator with three demo
 * tenants, a few hours of content behind and a day ahead (published as the clock reaches it),
 * and light versions of every fault, so the first run shows the collector coping with them. It
 * serves every feed: the Management Activity API's audit content, Graph's message traces (one demo
 * tenant has no message-trace service principal, so the demo shows how that is reported) and Sophos
 * Central's XDR Data Lake for a partner's customers (one listed without an API host, reported too).
 *
 * The demo is an epoch kept in `.local/demo/epoch.json` (seed, content span, port): a restarted
 * demo serves exactly the content it served before, so messages left on the queue by a stopped
 * run still find their blobs. Its Azurite data lives beside it, apart from a real run's, and is
 * cleared whenever a new epoch begins, so demo state never meets content it does not describe.
 */
export const DEMO_TENANTS = [
  { id: "4d6f1a52-8c3e-4b7a-9e21-0c5d7f3a9b10", domain: "contoso.onmicrosoft.com" },
  { id: "9b2e7c41-3f8a-4d6e-b1c5-2a7f9e0d4c83", domain: "fabrikam.onmicrosoft.com" },
  { id: "e3a95d07-6b1c-4f2e-8d4a-7c0b1e9f5a26", domain: "northwind.onmicrosoft.com" },
];
export const DEMO_CLIENT_ID = "5a0c3e71-2d9b-4c8f-a6e4-1f7b3d9c0e52";
/** The port a first epoch asks for; any free one when it is taken. */
const DEMO_PORT = 44365;
const HOUR = 3_600_000;
const SPAN_BEHIND = 3 * HOUR;
const SPAN_AHEAD = 24 * HOUR;
/** An epoch this close to the end of its content is replaced: it would have nothing left to show. */
const RENEW_BEFORE_END = HOUR;

const epochSchema = z.object({ version: z.literal(1), seed: z.number().int(), from: z.number(), to: z.number(), port: z.number().int().min(0).max(65_535) });
type Epoch = z.infer<typeof epochSchema>;

export interface Demo {
  simulator: Simulator;
  env: Record<string, string>;
  /** What the demo serves, for the host's first lines. */
  description: string;
}

/** What the demo sets; the operator's values of these give way to it. */
export const DEMO_SETTINGS = [
  "O365_TENANT_IDS",
  "O365_TENANT_NAMES",
  "O365_CLIENT_ID",
  "O365_CLIENT_SECRET",
  "O365_API_BASE_URL",
  "O365_LOGIN_BASE_URL",
  "MESSAGE_TRACE_GRAPH_BASE_URL",
  "SOPHOS_CLIENT_ID",
  "SOPHOS_CLIENT_SECRET",
  "SOPHOS_ID_BASE_URL",
  "SOPHOS_API_BASE_URL",
] as const;
/** What the demo turns on unless the operator said otherwise (MESSAGE_TRACE_ENABLED=false: the audit feed alone). */
export const DEMO_DEFAULTS: Readonly<Record<string, string>> = {
  MESSAGE_TRACE_ENABLED: "true",
  SOPHOS_ENABLED: "true",
  // The demo's content spans a few hours, and its query runs finish within seconds.
  SOPHOS_LOOKBACK: "1d",
  SOPHOS_POLL_INTERVAL: "2s",
};
/** The demo tenant without the message-trace service principal (its audit feed works). */
const WITHOUT_SERVICE_PRINCIPAL = DEMO_TENANTS[2] as (typeof DEMO_TENANTS)[number];
/** The other ways to authenticate, which would conflict with the demo's secret: they give way too. */
export const DEMO_YIELDS = ["O365_CLIENT_CERTIFICATE_PATH", "O365_CLIENT_CERTIFICATE", "O365_CLIENT_CERTIFICATE_PASSWORD", "O365_FEDERATED_IDENTITY_CLIENT_ID"] as const;
/** On storage the demo does not own, it keeps to names of its own, apart from real state. */
export const DEMO_STORAGE_NAMES: Readonly<Record<string, string>> = { STATE_TABLE_PREFIX: "demo", WORK_QUEUE: "demo-work", OUTPUT_CONTAINER: "demo-ecs" };

/** The demo runs when no feed has a tenant to collect from. */
export function isDemo(env: Readonly<Record<string, string | undefined>>): boolean {
  return !env.O365_TENANT_IDS?.trim() && !env.SOPHOS_CLIENT_ID?.trim();
}

export interface DemoState {
  /** Everything the demo keeps: the epoch file and its Azurite data. */
  dir: string;
  azuriteLocation: string;
  epoch: Epoch;
  /** Why a new epoch began (and the demo's old state was cleared); undefined when the stored one goes on. */
  renewed: string | undefined;
}

/**
 * Reads the demo's epoch, or begins a new one (clearing the demo's old state) when there is none,
 * it is unreadable, its content is used up, or its port is taken. Runs before Azurite starts.
 */
export async function prepareDemo(localDir: string, now = Date.now()): Promise<DemoState> {
  const dir = join(localDir, "demo");
  const file = join(dir, "epoch.json");
  const azuriteLocation = join(dir, "azurite");
  let renewed: string | undefined;
  let epoch = await readFile(file, "utf8").then(
    (text) => epochSchema.safeParse(JSON.parse(text)).data,
    () => undefined,
  ).catch(() => undefined);
  if (!epoch) renewed = "first demo run";
  else if (now > epoch.to - RENEW_BEFORE_END) renewed = "the previous demo's content was used up";
  else if (!(await portFree(epoch.port))) renewed = `port ${epoch.port} of the previous demo is taken`;
  if (renewed !== undefined || !epoch) {
    await rm(dir, { recursive: true, force: true });
    const port = (await portFree(DEMO_PORT)) ? DEMO_PORT : 0;
    epoch = { version: 1, seed: Math.floor(now / 1000), from: now - SPAN_BEHIND, to: now + SPAN_AHEAD, port };
  }
  await mkdir(dir, { recursive: true });
  await writeFile(file, `${JSON.stringify(epoch)}\n`);
  return { dir, azuriteLocation, epoch, renewed };
}

export async function startDemo(state: DemoState): Promise<Demo> {
  const { epoch } = state;
  const secret = randomBytes(24).toString("base64url");
  // Mail flow over the same span as the audit content: late rows and statuses that settle after the fact.
  const traces = messageTraceRoute({
    traces: generateMessageTraces({
      tenants: DEMO_TENANTS,
      from: epoch.from,
      to: epoch.to,
      messageIntervalMs: 2 * 60_000,
      seed: epoch.seed,
      lateRate: 0.05,
      lateDelayMs: 20 * 60_000,
      unsettledRate: 0.2,
      settleDelayMs: 10 * 60_000,
    }),
    withoutServicePrincipal: [WITHOUT_SERVICE_PRINCIPAL.id],
    throttleRate: 0.02,
    retryAfterSeconds: 2,
    seed: epoch.seed,
  });
  // A partner credential: its customers' Data Lakes in two regions, runs that take a few polls, a few that fail.
  const sophosDirectory = defaultSophosDirectory();
  const partner = sophosDirectory.find((credential) => credential.idType === "partner") as (typeof sophosDirectory)[number];
  const sophos = sophosXdrRoute({
    directory: sophosDirectory,
    rows: generateXdrRows({ tenantIds: partner.tenants.map((t) => t.id), from: epoch.from, to: epoch.to, detectionIntervalMs: 6 * 60_000, seed: epoch.seed, lateRate: 0.05, lateDelayMs: 15 * 60_000 }),
    throttleRate: 0.02,
    retryAfterSeconds: 2,
    failRate: 0.05,
    seed: epoch.seed,
  });
  const simulator = await startSimulator({
    routes: [traces.route, sophos.route],
    tenants: DEMO_TENANTS,
    clientId: DEMO_CLIENT_ID,
    clientSecret: secret,
    from: epoch.from,
    to: epoch.to,
    blobIntervalMs: 10 * 60_000,
    recordsPerBlob: [5, 40],
    seed: epoch.seed,
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
    port: epoch.port,
  });
  if (epoch.port === 0) {
    // A first epoch on a random port keeps that port from now on: queued content URIs name it.
    const port = Number(new URL(simulator.apiBaseUrl).port);
    await writeFile(join(state.dir, "epoch.json"), `${JSON.stringify({ ...epoch, port })}\n`);
  }
  return {
    simulator,
    description:
      `${DEMO_TENANTS.length} demo tenants, light faults: audit logs and message traces (${WITHOUT_SERVICE_PRINCIPAL.domain} lacks the message-trace service principal, ` +
      `to show how that is reported); a Sophos partner with ${partner.tenants.length} customers (one without an API host)`,
    env: {
      O365_TENANT_IDS: DEMO_TENANTS.map((t) => t.id).join(","),
      O365_TENANT_NAMES: DEMO_TENANTS.map((t) => `${t.id}=${t.domain}`).join(","),
      O365_CLIENT_ID: DEMO_CLIENT_ID,
      O365_CLIENT_SECRET: secret,
      O365_API_BASE_URL: simulator.apiBaseUrl,
      O365_LOGIN_BASE_URL: simulator.loginBaseUrl,
      MESSAGE_TRACE_GRAPH_BASE_URL: simulator.apiBaseUrl,
      SOPHOS_CLIENT_ID: partner.clientId,
      SOPHOS_CLIENT_SECRET: partner.clientSecret,
      SOPHOS_ID_BASE_URL: simulator.apiBaseUrl,
      SOPHOS_API_BASE_URL: simulator.apiBaseUrl,
    },
  };
}

async function portFree(port: number): Promise<boolean> {
  if (port === 0) return false;
  const server = createServer();
  server.listen(port, "127.0.0.1");
  try {
    await Promise.race([once(server, "listening"), once(server, "error").then(([error]) => Promise.reject(error))]);
  } catch {
    return false;
  }
  server.close();
  await once(server, "close");
  return true;
}
