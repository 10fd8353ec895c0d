import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { startSimulator } from "../../shared/simulator/server.js";
import { BENCH_CONTENT_ID, BENCH_WARM_UP_ID } from "./workloads.js";

/**
 * The worker bench's content download, in a process of its own (the bench runs its children
 * synchronously, and the server's CPU is no cost of the worker's): the simulator's token endpoint and
 * TLS, with one route that serves a content blob from disk gzip-compressed, as the Management Activity
 * API answers a client that accepts gzip. Prints its URLs and CA as one JSON line, then serves until
 * it is killed. Arguments: the blob's path, and the tenant, client id and secret the bench's client uses.
 */
const [blobPath, tenantId, clientId, clientSecret] = process.argv.slice(2) as [string, string, string, string];
// Compressed once, at the default level, before anything is timed.
const blob = gzipSync(readFileSync(blobPath));
const warmUp = gzipSync(Buffer.from("[]"));
const sim = await startSimulator({
  tenants: [{ id: tenantId, domain: "contoso.onmicrosoft.com" }],
  clientId,
  clientSecret,
  from: 0,
  to: 0,
  blobIntervalMs: 3_600_000,
  recordsPerBlob: [0, 0],
  routes: [
    (req, res, url, context) => {
      const body = url.pathname.endsWith(`/activity/feed/audit/${BENCH_CONTENT_ID}`) ? blob : url.pathname.endsWith(`/activity/feed/audit/${BENCH_WARM_UP_ID}`) ? warmUp : undefined;
      if (!body) return false;
      if (context.token(req.headers.authorization)?.tenantId !== tenantId) res.writeHead(401).end();
      else res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-encoding": "gzip", "content-length": body.length }).end(body);
      return true;
    },
  ],
});
console.log(JSON.stringify({ apiBaseUrl: sim.apiBaseUrl, loginBaseUrl: sim.loginBaseUrl, ca: sim.ca }));
process.on("SIGTERM", () => void sim.stop().then(() => process.exit(0)));
