import { once } from "node:events";
import { mkdtemp, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CONTENT_CHUNK_BYTES } from "../../shared/pipeline/records.js";
import { generateCertificate } from "../../shared/simulator/certs.js";
import { ManagementApiError } from "../../shared/sources/o365-audit/errors.js";
import type { ContentItem } from "../../shared/sources/o365-audit/schemas.js";
import type { Simulator } from "../../shared/simulator/server.js";
import { closedPort } from "../helpers/ports.js";
import { auditConfig, clientFor, settingsFor, simulator, TENANT_A, TENANT_B, tenants } from "../helpers/simulator.js";

const H = 3_600_000;
const now = Date.now();
let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});


async function listAll(client: ReturnType<typeof clientFor>["client"], window = { start: now - 20 * H, end: now }) {
  const pages: ContentItem[][] = [];
  for await (const page of client.listContent(TENANT_A, "Audit.Exchange", window)) pages.push(page);
  return pages;
}

describe("Management Activity API client (against the simulator)", () => {
  it("follows NextPageUri to the last page and sends PublisherIdentifier on every call", async () => {
    sim = await simulator({ from: now - 20 * H, to: now, pageSize: 7, contentTypes: ["Audit.Exchange"] });
    const { client } = clientFor(sim);
    const pages = await listAll(client);
    const expected = sim.blobs.filter((b) => b.contentType === "Audit.Exchange").length;
    expect(pages.length).toBe(Math.ceil(expected / 7));
    expect(pages.flat().map((i) => i.contentId)).toEqual(sim.blobs.map((b) => b.contentId));
    const body = await client.openContent(TENANT_A, pages[0]![0]!.contentUri);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    expect(JSON.parse(Buffer.concat(chunks).toString())).toEqual(sim.blobs[0]!.records);
    expect(sim.stats.missingPublisher).toBe(0);
    expect(sim.stats.apiRequests).toBe(pages.length + 1);
  });

  it("asks for gzip and hands a large content blob on in pieces of CONTENT_CHUNK_BYTES, not zlib's 16 KiB", async () => {
    sim = await simulator({ from: now - 2 * H, to: now, recordsPerBlob: [1_500, 1_500], contentTypes: ["Audit.Exchange"] });
    const { client } = clientFor(sim);
    const [first] = (await listAll(client)).flat();
    const body = await client.openContent(TENANT_A, first!.contentUri);
    const sizes: number[] = [];
    const chunks: Buffer[] = [];
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      sizes.push((chunk as Buffer).length);
    }
    expect(JSON.parse(Buffer.concat(chunks).toString())).toHaveLength(1_500);
    // Each piece costs the worker a turn of the event loop (see CONTENT_CHUNK_BYTES).
    expect(Math.max(...sizes)).toBe(CONTENT_CHUNK_BYTES);
  });

  it("retries throttling (AF429 as 403, and 429) honouring Retry-After, and 5xx with backoff", async () => {
    sim = await simulator({ from: now - 20 * H, to: now, pageSize: 2, contentTypes: ["Audit.Exchange"], faults: { throttle403Rate: 0.2, throttle429Rate: 0.2, retryAfterSeconds: 3, serverErrorRate: 0.15 }, seed: 7 });
    const { client, events, sleeps, waits } = clientFor(sim, { maxThrottleRetries: 50, maxTransientRetries: 50, random: () => 0.5 });
    const pages = await listAll(client);
    expect(pages.flat()).toHaveLength(sim.blobs.length);
    const throttled = events.filter((e) => e.errorClass === "throttled");
    expect(throttled.length).toBe(sim.stats.throttled);
    expect(throttled.some((e) => e.status === 403)).toBe(true);
    expect(throttled.some((e) => e.status === 429)).toBe(true);
    // Throttling is waited out at the gate (Retry-After: 3, or backoff without one); 5xx with backoff.
    expect(waits).toContain(3000);
    expect(waits.length).toBe(throttled.length);
    expect(events.filter((e) => e.errorClass === "transient").length).toBe(sim.stats.serverErrors);
    expect(sleeps.length).toBe(sim.stats.serverErrors);
  });

  it("gives up on throttling after its budget, with a throttled error carrying Retry-After", async () => {
    sim = await simulator({ from: now - 2 * H, to: now, faults: { throttle429Rate: 1, retryAfterSeconds: 9 } });
    const { client, waits, gate } = clientFor(sim, { maxThrottleRetries: 2 });
    const failure = await listAll(client).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ManagementApiError);
    expect(failure).toMatchObject({ errorClass: "throttled", status: 429, code: "AF429", retryAfterMs: 9000 });
    expect(waits).toEqual([9000, 9000]);
    expect(gate.remaining(`o365:${TENANT_A}`)).toBe(9000); // the last answer holds the tenant too
  });

  it("holds every request to a throttled tenant, in every client that shares the gate, and no other tenant's", async () => {
    sim = await simulator({ tenants: tenants([TENANT_A, TENANT_B]), from: now - 2 * H, to: now, contentTypes: ["Audit.Exchange"], faults: { throttle429Rate: 1, retryAfterSeconds: 9 } });
    // The lister's client gives up at once here; the worker's shares its gate and may not wait.
    const { client: lister, waits, gate } = clientFor(sim, { maxThrottleRetries: 0 });
    const { client: worker } = clientFor(sim, { gate, maxThrottleRetries: 0, maxGateWaitMs: 0 });
    await expect(listAll(lister)).rejects.toMatchObject({ errorClass: "throttled", status: 429 });
    expect(sim.stats.apiRequests).toBe(1);

    // Nothing is sent for the held tenant: the worker hears how long it is held, to re-enqueue for that long.
    const refused = await worker.openContent(TENANT_A, `${sim.apiBaseUrl}/api/v1.0/${TENANT_A}/activity/feed/audit/x`).catch((e: unknown) => e);
    expect(refused).toMatchObject({ errorClass: "throttled", status: undefined, retryAfterMs: 9000 });
    expect(sim.stats.apiRequests).toBe(1);

    // A client that may wait waits out the Retry-After before it sends.
    await expect(listAll(lister)).rejects.toMatchObject({ errorClass: "throttled" });
    expect(waits).toEqual([9000]);
    expect(sim.stats.apiRequests).toBe(2);

    // Another tenant is not held.
    await expect(worker.openContent(TENANT_B, `${sim.apiBaseUrl}/api/v1.0/${TENANT_B}/activity/feed/audit/x`)).rejects.toMatchObject({ status: 429 });
    expect(sim.stats.apiRequests).toBe(3);
  });

  it("reports a missing subscription, and treats AF20024 (already enabled) as success", async () => {
    sim = await simulator({ from: now - 2 * H, to: now, faults: { subscriptionsStartDisabled: true } });
    const { client } = clientFor(sim);
    await expect(listAll(client)).rejects.toMatchObject({ errorClass: "noSubscription", code: "AF20022" });
    await client.startSubscription(TENANT_A, "Audit.Exchange");
    await client.startSubscription(TENANT_A, "Audit.Exchange"); // AF20024
    expect(sim.stats.subscriptionsStarted).toBe(1);
    const subscriptions = await client.listSubscriptions(TENANT_A);
    expect(subscriptions.find((s) => s.contentType === "Audit.Exchange")?.status).toBe("enabled");
    expect(subscriptions.find((s) => s.contentType === "DLP.All")?.status).toBe("disabled");
    expect((await listAll(client, { start: now - 2 * H, end: now })).flat().length).toBeGreaterThan(0);
  });

  it("classifies window errors so the lister can re-plan", async () => {
    sim = await simulator({ from: now - 2 * H, to: now });
    const { client } = clientFor(sim);
    await expect(listAll(client, { start: now - 30 * H, end: now })).rejects.toMatchObject({ errorClass: "badWindow", code: "AF20030" });
    await expect(listAll(client, { start: now - 8 * 24 * H, end: now - 8 * 24 * H + H })).rejects.toMatchObject({ errorClass: "badWindow", code: "AF20055" });
  });

  it("reports expired and missing content without retrying", async () => {
    sim = await simulator({ from: now - 4 * H, to: now, faults: { expiredRate: 1 } });
    const { client, events } = clientFor(sim);
    const [first] = (await listAll(client)).flat();
    await expect(client.openContent(TENANT_A, first!.contentUri)).rejects.toMatchObject({ errorClass: "expired", code: "AF20051" });
    await expect(client.openContent(TENANT_A, first!.contentUri.replace(/audit\/.*/, "audit/nope"))).rejects.toMatchObject({ errorClass: "notFound", code: "AF20050" });
    expect(events.filter((e) => e.operation === "content")).toHaveLength(2);
  });

  it("refuses to send its token to a URL outside the tenant's feed", async () => {
    sim = await simulator({ from: now - 2 * H, to: now });
    const { client } = clientFor(sim);
    await expect(client.openContent(TENANT_A, `${sim.apiBaseUrl}/api/v1.0/${TENANT_B}/activity/feed/audit/x`)).rejects.toThrow(/untrusted URL/);
    await expect(client.openContent(TENANT_A, "https://example.com/steal")).rejects.toThrow(/untrusted URL/);
    expect(sim.stats.apiRequests).toBe(0);
  });

  it("turns a wrong secret into one configuration error that does not contain the secret", async () => {
    sim = await simulator({ from: now - 2 * H, to: now });
    const wrong = "wrong-secret-must-not-leak";
    const { client, events } = clientFor(sim, { settings: settingsFor(sim, { O365_CLIENT_SECRET: wrong }) });
    const failure = (await listAll(client).catch((e: unknown) => e)) as ManagementApiError;
    expect(failure).toBeInstanceOf(ManagementApiError);
    expect(failure.errorClass).toBe("configuration");
    expect(failure.message).toMatch(/AADSTS7000215/);
    expect(`${failure.message} ${String(failure.stack)} ${JSON.stringify(failure)}`).not.toContain(wrong);
    expect(events).toHaveLength(1);
    expect(sim.stats.apiRequests).toBe(0);
  });

  it("treats a token request the identity service refused as configuration, without retries", async () => {
    sim = await simulator({ from: now - 2 * H, to: now });
    const { client, events, sleeps } = clientFor(sim);
    const unknown = "9f9f9f9f-9f9f-4f9f-8f9f-9f9f9f9f9f9f";
    await expect(client.listSubscriptions(unknown)).rejects.toMatchObject({ errorClass: "configuration", status: 400 });
    expect(events).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it("retries a token request that got no answer or a 5xx, as transient, with the client's backoff", async () => {
    sim = await simulator({ from: now - 2 * H, to: now, faults: { tokenErrorRate: 1 } });
    const unavailable = clientFor(sim, { maxTransientRetries: 2 });
    await expect(listAll(unavailable.client)).rejects.toMatchObject({ errorClass: "transient", status: 503, message: expect.stringMatching(/AADSTS90033/) });
    expect(unavailable.events.map((e) => e.errorClass)).toEqual(["transient", "transient", "transient"]);
    expect(unavailable.sleeps).toHaveLength(2);
    // The SDK does not retry underneath; MSAL repeats a 5xx for a while without asking again.
    expect(sim.stats.tokenRequests).toBe(1);

    // Nothing listens there: no status, and the SDK's "endpoints_resolution_error" gets the reason beside it.
    const refused = clientFor(sim, { settings: settingsFor(sim, { O365_LOGIN_BASE_URL: `https://127.0.0.1:${await closedPort()}` }), maxTransientRetries: 1 });
    await expect(listAll(refused.client)).rejects.toMatchObject({ errorClass: "transient", status: undefined, message: expect.stringMatching(/no answer from the identity service \(ECONNREFUSED\)/) });
    expect(refused.events).toHaveLength(2);

    // Something accepts the connection and never answers: the request's time limit ends it.
    const silent = createServer(() => undefined);
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    try {
      const { port } = silent.address() as AddressInfo;
      const hanging = clientFor(sim, { settings: settingsFor(sim, { O365_LOGIN_BASE_URL: `https://127.0.0.1:${port}`, REQUEST_TIMEOUT: "1s" }), maxTransientRetries: 0 });
      await expect(listAll(hanging.client)).rejects.toMatchObject({ errorClass: "transient", message: expect.stringMatching(/\(ETIMEDOUT\)/) });
    } finally {
      silent.close();
    }
    expect(sim.stats.apiRequests).toBe(0);
  });

  it("authenticates with a client certificate (signed assertion checked by the token endpoint)", async () => {
    const { cert, key } = await generateCertificate("audit-intake-test-app");
    const dir = await mkdtemp(join(tmpdir(), "audit-intake-cert-"));
    const path = join(dir, "app.pem");
    await writeFile(path, `${cert}\n${key}`);
    sim = await simulator({ from: now - 2 * H, to: now, clientSecret: undefined, clientCertificatePem: cert });
    const { client } = clientFor(sim, { settings: settingsFor(sim, { O365_CLIENT_SECRET: "", O365_CLIENT_CERTIFICATE_PATH: path }) });
    expect((await listAll(client, { start: now - 2 * H, end: now })).flat().length).toBeGreaterThan(0);
    expect(sim.stats.tokenRequests).toBe(1);

    // The same certificate as PEM text (what a Key Vault reference delivers on Azure).
    const { client: fromText } = clientFor(sim, { settings: settingsFor(sim, { O365_CLIENT_SECRET: "", O365_CLIENT_CERTIFICATE: `${cert}\n${key}` }) });
    expect((await listAll(fromText, { start: now - 2 * H, end: now })).flat().length).toBeGreaterThan(0);

    // A certificate the app registration does not know is refused.
    const other = await generateCertificate("someone-else");
    await writeFile(path, `${other.cert}\n${other.key}`);
    const { client: impostor } = clientFor(sim, { settings: settingsFor(sim, { O365_CLIENT_SECRET: "", O365_CLIENT_CERTIFICATE_PATH: path }) });
    await expect(listAll(impostor, { start: now - 2 * H, end: now })).rejects.toMatchObject({ errorClass: "configuration" });
  });

  it("authenticates secretless: a managed identity's token as the federated client assertion", async () => {
    sim = await simulator({ from: now - 2 * H, to: now, clientSecret: undefined, federatedAssertion: "mi-token-for-token-exchange" });
    const settings = settingsFor(sim, { O365_CLIENT_SECRET: "", O365_FEDERATED_IDENTITY_CLIENT_ID: "7b0c2d4e-1a3f-4e5d-9c8b-6a7f8e9d0c1b" });
    expect(auditConfig(settings).entra.auth).toEqual({ kind: "federated", managedIdentityClientId: "7b0c2d4e-1a3f-4e5d-9c8b-6a7f8e9d0c1b" });
    let asked = 0;
    const { client } = clientFor(sim, { settings, assertionSource: async () => ((asked += 1), "mi-token-for-token-exchange") });
    expect((await listAll(client, { start: now - 2 * H, end: now })).flat().length).toBeGreaterThan(0);
    expect(asked).toBeGreaterThan(0);
    expect(sim.stats.tokenRequests).toBe(1);

    const { client: wrong } = clientFor(sim, { settings, assertionSource: async () => "some-other-token" });
    await expect(listAll(wrong, { start: now - 2 * H, end: now })).rejects.toMatchObject({ errorClass: "configuration" });
  });

  it("times out a request that never answers", async () => {
    sim = await simulator({ from: now - 2 * H, to: now, faults: { latencyMs: 1_200 } });
    const { client, events } = clientFor(sim, { timeoutMs: 300, maxTransientRetries: 1 });
    await expect(listAll(client)).rejects.toMatchObject({ errorClass: "transient" });
    expect(events.filter((e) => e.errorClass === "transient")).toHaveLength(2);
  }, 20_000);
});
